// A Microsoft Graph and Entra ID test double for the browser tests, following
// M365-PROTOCOLS.md §4 (the fuller one, with faults and device codes, is the Rust one in
// crates/tessera/tests/cli/graph_double.rs): client-credentials tokens for one app
// registration and secret, domains, and `federationConfiguration` list / create (201) /
// patch (200) / delete (204) with the documented enums and certificate checks; the
// directory-role, organization and security-defaults reads the preflight makes; the user list
// `m365 users` reads (`$select`ed properties only, paged by `$top` with `@odata.nextLink`); 401
// without a token, 403 without the permission. Every write is kept for the test to read.

import { createServer } from 'node:http';
import { X509Certificate } from 'node:crypto';

export const TENANT = '8f7b2c1e-0000-4000-8000-00000000c0de';
const GLOBAL_ADMINISTRATOR = '62e90394-69f5-4237-9190-012177145e10';
const WRITE = ['Domain-InternalFederation.ReadWrite.All', 'Domain.ReadWrite.All'];
const READ = ['Domain.Read.All', 'Directory.Read.All', ...WRITE];

function domain(id, { authenticationType = 'Managed', isVerified = true, isRoot = true, isInitial = false, isDefault = false } = {}) {
  return { id, authenticationType, isVerified, isRoot, isInitial, isDefault, isAdminManaged: true, supportedServices: ['Email'] };
}

export async function startGraphDouble({ clientId, secret, permissions }) {
  const state = {
    domains: new Map([
      ['contoso.com', domain('contoso.com')],
      ['contoso.onmicrosoft.com', domain('contoso.onmicrosoft.com', { isInitial: true })],
      ['fabrikam.com', domain('fabrikam.com', { isDefault: true })],
    ]),
    configurations: new Map(),
    tokens: new Map(),
    writes: [],
    permissions,
    users: [],
  };
  let next = 0;
  const send = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const error = (res, status, code, message) => send(res, status, { error: { code, message, innerError: { 'request-id': 'x' } } });
  const certificateOk = (text) => {
    if (text === null || text === undefined || text === '') return true;
    try { new X509Certificate(Buffer.from(text, 'base64')); return true; } catch { return false; }
  };
  const invalidField = (config) => {
    const oneOf = (field, allowed) => config[field] != null && !allowed.includes(config[field]);
    if (oneOf('preferredAuthenticationProtocol', ['wsFed', 'saml'])) return 'preferredAuthenticationProtocol';
    if (oneOf('federatedIdpMfaBehavior', ['acceptIfMfaDoneByFederatedIdp', 'enforceMfaByFederatedIdp', 'rejectMfaByFederatedIdp'])) return 'federatedIdpMfaBehavior';
    if (oneOf('promptLoginBehavior', ['translateToFreshPasswordAuthentication', 'nativeSupport', 'disabled'])) return 'promptLoginBehavior';
    for (const field of ['signingCertificate', 'nextSigningCertificate']) if (!certificateOk(config[field])) return field;
    return null;
  };

  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://double');
      const path = url.pathname;
      if (req.method === 'POST' && path === `/${TENANT}/oauth2/v2.0/token`) {
        const form = new URLSearchParams(body);
        if (form.get('grant_type') !== 'client_credentials' || form.get('client_id') !== clientId || form.get('client_secret') !== secret) {
          return send(res, 400, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1' });
        }
        const token = `double.${Buffer.from(JSON.stringify({ roles: state.permissions })).toString('base64url')}.${++next}`;
        state.tokens.set(token, true);
        return send(res, 200, { token_type: 'Bearer', expires_in: 3599, access_token: token });
      }
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!state.tokens.has(token)) return error(res, 401, 'InvalidAuthenticationToken', 'Access token is empty.');
      const may = (any) => state.permissions.some((p) => any.includes(p));
      const denied = () => error(res, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
      let m;
      if (req.method === 'GET' && path === '/v1.0/domains') {
        if (!may(READ)) return denied();
        return send(res, 200, { value: [...state.domains.values()] });
      }
      if ((m = path.match(/^\/v1\.0\/domains\/([^/]+)$/))) {
        const d = state.domains.get(m[1]);
        if (!d) return error(res, 404, 'Request_ResourceNotFound', `Resource '${m[1]}' does not exist.`);
        if (req.method === 'GET') return may(READ) ? send(res, 200, d) : denied();
        if (req.method === 'PATCH') {
          if (!may(WRITE)) return denied();
          const patch = JSON.parse(body || '{}');
          if (patch.authenticationType === 'Managed') { d.authenticationType = 'Managed'; state.configurations.delete(d.id); }
          else if (patch.authenticationType === 'Federated') d.authenticationType = 'Federated';
          else return error(res, 400, 'Request_BadRequest', 'Only authenticationType may change here.');
          state.writes.push(`PATCH /domains/${d.id}`);
          return send(res, 204);
        }
      }
      if ((m = path.match(/^\/v1\.0\/domains\/([^/]+)\/federationConfiguration(?:\/([^/]+))?$/))) {
        const d = state.domains.get(m[1]);
        if (!d) return error(res, 404, 'Request_ResourceNotFound', 'No such domain.');
        const config = state.configurations.get(d.id);
        if (!m[2] && req.method === 'GET') return may(READ) ? send(res, 200, { value: config ? [config] : [] }) : denied();
        if (!m[2] && req.method === 'POST') {
          if (!may(WRITE)) return denied();
          const created = JSON.parse(body || '{}');
          if (created['@odata.type'] !== '#microsoft.graph.internalDomainFederation') return error(res, 400, 'Request_BadRequest', '@odata.type is required.');
          if (d.isInitial || !d.isVerified) return error(res, 400, 'Request_BadRequest', 'This domain cannot be federated.');
          if (config) return error(res, 400, 'Request_BadRequest', 'The domain has a federation configuration already.');
          delete created['@odata.type'];
          const bad = invalidField(created);
          if (bad) return error(res, 400, 'Request_BadRequest', `Invalid value for ${bad}.`);
          created.id = `6601d14b-d113-8f64-fda2-${String(++next).padStart(12, '0')}`;
          state.configurations.set(d.id, created);
          d.authenticationType = 'Federated';
          state.writes.push(`POST /domains/${d.id}/federationConfiguration`);
          return send(res, 201, created);
        }
        if (!config || config.id !== m[2]) return error(res, 404, 'Request_ResourceNotFound', 'No such configuration.');
        if (req.method === 'GET') return may(READ) ? send(res, 200, config) : denied();
        if (req.method === 'PATCH') {
          if (!may(WRITE)) return denied();
          const patch = JSON.parse(body || '{}');
          const bad = invalidField(patch);
          if (bad) return error(res, 400, 'Request_BadRequest', `Invalid value for ${bad}.`);
          Object.assign(config, patch);
          state.writes.push(`PATCH /domains/${d.id}/federationConfiguration/${config.id}`);
          return send(res, 200, config);
        }
        if (req.method === 'DELETE') {
          if (!may(WRITE)) return denied();
          state.configurations.delete(d.id);
          d.authenticationType = 'Managed';
          state.writes.push(`DELETE /domains/${d.id}/federationConfiguration/${config.id}`);
          return send(res, 204);
        }
      }
      if (req.method === 'GET' && path === '/v1.0/users') {
        if (!may(['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All'])) return denied();
        const select = (url.searchParams.get('$select') ?? 'id,userPrincipalName,displayName').split(',');
        const top = Math.min(Number(url.searchParams.get('$top') ?? 100), 2);
        const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
        const value = state.users.slice(skip, skip + top).map((u) => Object.fromEntries(select.map((f) => [f, u[f] ?? null])));
        const page = { value };
        if (skip + top < state.users.length) {
          page['@odata.nextLink'] = `http://${req.headers.host}/v1.0/users?$select=${select.join(',')}&$top=${top}&$skiptoken=${skip + top}`;
        }
        return send(res, 200, page);
      }
      if (req.method === 'GET' && path === '/v1.0/directoryRoles') {
        const wanted = url.searchParams.get('$filter') === `roleTemplateId eq '${GLOBAL_ADMINISTRATOR}'`;
        return send(res, 200, { value: wanted ? [{ id: 'role-ga', displayName: 'Global Administrator', roleTemplateId: GLOBAL_ADMINISTRATOR }] : [] });
      }
      if (req.method === 'GET' && path === '/v1.0/directoryRoles/role-ga/members') {
        return send(res, 200, { value: ['ops@contoso.com', 'breakglass@contoso.onmicrosoft.com'].map((userPrincipalName) => ({ '@odata.type': '#microsoft.graph.user', userPrincipalName })) });
      }
      if (req.method === 'GET' && path === '/v1.0/organization') {
        return send(res, 200, { value: [{ id: TENANT, displayName: 'Contoso', onPremisesSyncEnabled: null }] });
      }
      if (req.method === 'GET' && path === '/v1.0/policies/identitySecurityDefaultsEnforcementPolicy') {
        return send(res, 200, { id: '00000000-0000-0000-0000-000000000005', isEnabled: false });
      }
      return error(res, 404, 'Request_ResourceNotFound', `${req.method} ${path} is not part of this double.`);
    });
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${server.address().port}`, state, close: () => new Promise((done) => server.close(done)) };
}
