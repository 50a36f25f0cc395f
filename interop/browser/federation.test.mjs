// The Federation tab of a Microsoft 365 connector in a real browser, against a real `tessera
// serve` (https, as Entra needs) and the Graph test double (graph-double.mjs): the Graph
// credentials are stored on their page (a wrong secret first, which the tab reports), the
// domain is federated through the dry-run diff and its confirmation, the certificate is rolled
// over with no outage (stage, push, promote, push: Graph holds the new certificate as current
// and the old one as next; WS-Federation tokens signed before and after both pass Entra's
// checks, played by passport-wsfed-saml2, until the old certificate is cleared), and the domain
// goes back to Managed. Screenshots go to
// target/browser-artifacts/federation/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { artifacts, freePort, launchChromium, runCli, shot, tessera } from './harness.mjs';
import { TENANT, startGraphDouble } from './graph-double.mjs';

const require = createRequire(import.meta.url);
const { Strategy } = require('passport-wsfed-saml2');

const secret = 'graph~secret.that-never-shows';
const userPassword = 'correct horse battery';
const adminPassword = 'the boss own password';

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch { /* best effort */ }
  }
});

/// `tessera serve` over https on 127.0.0.1, reaching Graph at the double.
async function startHttpsServer(dataDir, port, graphUrl) {
  const cert = join(dataDir, 'tls.pem');
  const key = join(dataDir, 'tls.key');
  // Not a CA: the server trusts it as itself (SSL_CERT_FILE), so that the Doctor tab's TLS check
  // passes as it would with a certificate from a public authority.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '90', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:FALSE', '-keyout', key,
    '-out', cert], { stdio: 'ignore' });
  const base = `https://127.0.0.1:${port}`;
  const server = spawn(tessera, ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`, '--public-url', base,
    '--tls-cert', cert, '--tls-key', key, '--admin-mfa', 'optional', '--graph-url', graphUrl, '--login-url', graphUrl,
    '--rollover-check-minutes', '0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SSL_CERT_FILE: cert } });
  let stderr = '';
  server.stderr.on('data', (chunk) => { stderr += chunk; });
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { server, base, stderr: () => stderr };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  server.kill('SIGTERM');
  throw new Error(`tessera did not start: ${stderr}`);
}

/// passport-wsfed-saml2 (a WS-Federation relying party, here in Entra's place) on a posted
/// wresult under one certificate: resolves with the profile, or rejects.
function passportAccepts(wresult, certificate) {
  const strategy = new Strategy(
    { realm: 'urn:federation:MicrosoftOnline', cert: certificate, identityProviderUrl: 'https://idp.invalid/wsfed', checkRecipient: false },
    (profile, done) => done(null, profile),
  );
  return new Promise((resolve, reject) => {
    strategy.success = resolve;
    strategy.fail = (info) => reject(new Error(`failed: ${JSON.stringify(info)}`));
    strategy.error = reject;
    strategy.redirect = (url) => reject(new Error(`redirected to ${url}`));
    const request = {
      method: 'POST', body: { wa: 'wsignin1.0', wresult }, query: {}, headers: { host: 'login.microsoftonline.com' },
      protocol: 'https', originalUrl: '/login.srf', get: (name) => request.headers[name.toLowerCase()],
    };
    strategy.authenticate(request, {});
  });
}

/// Entra's checks on a WS-Federation token for contoso.com (M365-PROTOCOLS.md §8 items 28, 29):
/// its issuer is the domain's issuerUri, and it verifies under signingCertificate or
/// nextSigningCertificate as Graph holds them now.
async function entraAccepts(double, wresult) {
  const config = double.state.configurations.get('contoso.com');
  if (!config) return false;
  for (const certificate of [config.signingCertificate, config.nextSigningCertificate].filter(Boolean)) {
    try {
      const profile = await passportAccepts(wresult, certificate);
      if (profile.issuer === config.issuerUri) return true;
    } catch { /* not under this one */ }
  }
  return false;
}

/// A WS-Federation passive sign-in to Microsoft 365 as Entra starts it; the wresult Entra gets.
async function wsfedToken(browser, app, username) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  let posted = null;
  await context.route('https://login.microsoftonline.com/**', async (route) => {
    posted = Object.fromEntries(new URLSearchParams(route.request().postData() ?? ''));
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Entra received the token' });
  });
  const page = await context.newPage();
  const query = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: 'urn:federation:MicrosoftOnline', wctx: 'x', username });
  await page.goto(`${app.endpoints.wsfed_passive}?${query}`);
  await page.fill('#password', userPassword);
  await page.click('button[type=submit]');
  if (new URL(page.url()).pathname === '/notice') await page.click('text=I understand');
  await page.waitForURL('https://login.microsoftonline.com/login.srf');
  await context.close();
  return posted.wresult;
}

test('the Federation tab: credentials, enable through its diff, a rollover with no outage, disable', async () => {
  const shots = join(artifacts, 'federation');
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-federation-'));
  const double = await startGraphDouble({
    clientId: 'tessera', secret,
    permissions: ['Domain.Read.All', 'Domain-InternalFederation.ReadWrite.All', 'Organization.Read.All', 'Policy.Read.All', 'RoleManagement.Read.Directory', 'User.Read.All'],
  });
  cleanups.push(() => double.close());
  const port = await freePort();
  const cli = (args, input) => runCli(dataDir, args, input);
  cli(['--public-url', `https://127.0.0.1:${port}`, 'app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365']);
  cli(['admin', 'add', 'boss', '--password-stdin'], `${adminPassword}\n`);
  cli(['user', 'add', 'alice@contoso.com', '--password-stdin'], `${userPassword}\n`);
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  cli(['app', 'grant', 'Microsoft 365', 'Staff']);
  const started = await startHttpsServer(dataDir, port, double.url);
  cleanups.push(() => started.server.kill('SIGTERM'));
  const { base } = started;
  const app = JSON.parse(cli(['--json', 'app', 'show', 'Microsoft 365']));

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${base}/admin/login`);
  await page.getByLabel('Administrator name').fill('boss');
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(new URL(page.url()).pathname, '/admin/applications');

  // No credentials yet: the tab says so and links to their page.
  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('link', { name: 'store them' }).click();
  assert.equal(new URL(page.url()).pathname, '/admin/microsoft-365');

  // Both a secret and a certificate: refused, nothing stored.
  await page.getByLabel('Tenant (its ID, or a verified domain)').fill(TENANT);
  await page.getByLabel('Application (client) ID').fill('tessera');
  await page.getByLabel('Client secret').fill('x');
  await page.getByLabel('or: the certificate and its private key (PEM)').fill('-----BEGIN CERTIFICATE-----');
  await page.getByRole('button', { name: 'Store credentials' }).click();
  await page.getByRole('alert').filter({ hasText: 'not both' }).waitFor();
  assert.match(await page.content(), /No Graph credentials are stored/);

  // A wrong secret is stored (Tessera cannot tell until it asks Entra); the tab reports it.
  await page.getByLabel('Client secret').fill('a wrong secret');
  await page.getByLabel('or: the certificate and its private key (PEM)').fill('');
  await page.getByRole('button', { name: 'Store credentials' }).click();
  await page.getByRole('status').filter({ hasText: 'Stored the secret' }).waitFor();
  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('alert').filter({ hasText: 'client secret is wrong' }).waitFor();
  await shot(page, join(shots, '01-wrong-secret.png'), { fullPage: true });

  await page.goto(`${base}/admin/microsoft-365`);
  await page.getByLabel('Client secret').fill(secret);
  await page.getByRole('button', { name: 'Store credentials' }).click();
  await page.getByRole('status').filter({ hasText: 'Stored the secret' }).waitFor();
  assert.ok(!(await page.content()).includes(secret), 'the secret is never shown');
  await shot(page, join(shots, '02-credentials.png'), { fullPage: true });

  // The Entra users tab: who would sign in once the domain is federated (read across Graph's
  // pages of two).
  const alice = JSON.parse(cli(['--json', 'user', 'show', 'alice@contoso.com']));
  cli(['user', 'add', 'bob@contoso.com']);
  cli(['user', 'add', 'dave@contoso.com']);
  double.state.users.push(
    { id: 'u1', userPrincipalName: 'alice@contoso.com', onPremisesImmutableId: alice.immutable_id, accountEnabled: true },
    { id: 'u2', userPrincipalName: 'bob@contoso.com', onPremisesImmutableId: null, accountEnabled: true },
    { id: 'u3', userPrincipalName: 'erin@contoso.com', onPremisesImmutableId: 'RVJJTg==', accountEnabled: true },
    { id: 'u4', userPrincipalName: 'zed@fabrikam.com', onPremisesImmutableId: null, accountEnabled: true },
  );
  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('link', { name: 'Entra users' }).click();
  const coverage = page.getByRole('table', { name: 'Tessera and Entra ID, by UPN' });
  await coverage.waitFor();
  const rowOf = (upn) => coverage.getByRole('row').filter({ hasText: upn });
  assert.match(await rowOf('alice@contoso.com').innerText(), /Matches/);
  assert.match(await rowOf('bob@contoso.com').innerText(), /No ImmutableID in Entra/);
  assert.match(await rowOf('dave@contoso.com').innerText(), /No Entra user/);
  assert.match(await rowOf('erin@contoso.com').innerText(), /Not in Tessera/);
  assert.equal(await rowOf('fabrikam.com').count(), 0, 'another domain\'s users are not listed');
  assert.match(await page.content(), /<strong>3<\/strong> active user\(s\) could not sign in/);
  await shot(page, join(shots, '02b-entra-users.png'), { fullPage: true });
  assert.equal(double.state.writes.length, 0, 'the report writes nothing');

  // Enable: the preflight, then the dry-run diff, then the write on confirmation only.
  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('table', { name: 'Preflight' }).waitFor();
  assert.match(await page.content(), /Enable would go ahead/);
  await page.getByLabel('Protocol').selectOption('wsfed');
  await page.getByLabel('MFA done in Tessera').selectOption('accept');
  await page.getByRole('button', { name: 'Enable…' }).click();
  await page.getByRole('table', { name: 'What changes in Microsoft 365' }).waitFor();
  assert.equal(double.state.writes.length, 0, 'a preview writes nothing');
  await shot(page, join(shots, '03-enable-diff.png'), { fullPage: true });
  await page.getByRole('button', { name: 'Confirm: write these changes to Microsoft 365' }).click();
  await page.getByRole('status').filter({ hasText: 'is federated with this connector' }).waitFor();
  const config = () => double.state.configurations.get('contoso.com');
  assert.equal(config().issuerUri, app.issuer);
  assert.equal(config().signingCertificate, app.signing_certificate);
  assert.match(await page.content(), /contoso\.com is <strong>Federated<\/strong>/);
  await shot(page, join(shots, '04-federated.png'), { fullPage: true });
  // Alice signs in as Entra sends her: her token passes Entra's checks.
  const signedByOld = await wsfedToken(browser, app, 'alice@contoso.com');
  assert.ok(await entraAccepts(double, signedByOld));

  // The Doctor tab: the checks from outside, with Alice as the test user (her token over ECP).
  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('link', { name: 'Doctor' }).click();
  await page.getByLabel('Test user', { exact: true }).fill('alice@contoso.com');
  await page.getByLabel("Test user's password").fill(userPassword);
  await page.getByRole('button', { name: 'Run the checks' }).click();
  const checks = page.getByRole('table', { name: 'Checks of Microsoft 365' });
  await checks.waitFor();
  const checkRow = (name) => checks.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });
  for (const name of ['tls', 'saml_metadata', 'wsfed_metadata', 'mex', 'test_token', 'graph', 'clock']) {
    assert.match(await checkRow(name).innerText(), /Passed/, name);
  }
  // Bob has no ImmutableID in Entra, Dave no Entra user: the doctor names them, and what to do.
  assert.match(await checkRow('immutable_ids').innerText(), /Failed[\s\S]*bob@contoso\.com[\s\S]*tessera m365 users --domain contoso\.com --fix/);
  assert.match(await page.content(), /<strong>1<\/strong> check\(s\) failed/);
  assert.ok(!(await page.content()).includes(userPassword), 'the password is not shown back');
  await shot(page, join(shots, '04b-doctor.png'), { fullPage: true });
  await page.goto(`${base}/admin/applications/${app.id}/federation`);

  // The rollover: stage, refused promote (Microsoft 365 does not hold it yet), push, promote, push.
  await page.getByRole('link', { name: 'Stage, promote or regenerate the certificate' }).click();
  await page.getByRole('button', { name: 'Stage next certificate' }).click();
  await page.getByRole('status').filter({ hasText: 'staged' }).waitFor();
  const staged = JSON.parse(cli(['--json', 'app', 'show', 'Microsoft 365'])).next_signing_certificate;
  assert.ok(staged && staged !== app.signing_certificate);
  await page.getByRole('button', { name: 'Promote staged certificate' }).click();
  await page.getByRole('alert').filter({ hasText: 'does not hold the staged certificate' }).waitFor();
  await shot(page, join(shots, '05-promote-refused.png'), { fullPage: true });

  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('button', { name: 'Enable…' }).click();
  await page.getByRole('table', { name: 'What changes in Microsoft 365' }).getByRole('cell', { name: 'nextSigningCertificate' }).waitFor();
  await page.getByRole('button', { name: 'Confirm: write these changes to Microsoft 365' }).click();
  await page.getByRole('status').filter({ hasText: 'is federated' }).waitFor();
  assert.equal(config().nextSigningCertificate, staged);

  await page.goto(`${base}/admin/applications/${app.id}/regenerate`);
  await page.getByLabel('Keep the old certificate published for (days)').fill('14');
  await page.getByRole('button', { name: 'Promote staged certificate' }).click();
  await page.getByRole('status').filter({ hasText: 'signs from now on' }).waitFor();
  await page.getByRole('cell', { name: 'Previous: still published as next' }).waitFor();
  await shot(page, join(shots, '06-promoted-timeline.png'), { fullPage: true });

  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('button', { name: 'Enable…' }).click();
  await page.getByRole('button', { name: 'Confirm: write these changes to Microsoft 365' }).click();
  await page.getByRole('status').filter({ hasText: 'is federated' }).waitFor();
  assert.equal(config().signingCertificate, staged, 'the new certificate is current in Graph');
  assert.equal(config().nextSigningCertificate, app.signing_certificate, 'the old one stays as next');
  await shot(page, join(shots, '07-rolled-over.png'), { fullPage: true });
  // The overlap: a token signed before the promotion and one signed after both pass.
  const signedByNew = await wsfedToken(browser, app, 'alice@contoso.com');
  assert.ok(await entraAccepts(double, signedByOld), 'the old token still verifies (old certificate as next)');
  assert.ok(await entraAccepts(double, signedByNew), 'the new token verifies (new certificate current)');
  assert.ok(!(await passportAccepts(signedByNew, app.signing_certificate).then(() => true, () => false)), 'signed by the new key');

  // The grace period over (ended now from the certificate page), Enable clears the old one
  // from Graph: only the new token passes.
  await page.goto(`${base}/admin/applications/${app.id}/regenerate`);
  await page.getByRole('button', { name: 'Stop publishing the previous certificate now' }).click();
  await page.getByRole('status').filter({ hasText: 'no longer published' }).waitFor();
  await page.goto(`${base}/admin/applications/${app.id}/federation`);
  await page.getByRole('button', { name: 'Enable…' }).click();
  await page.getByRole('button', { name: 'Confirm: write these changes to Microsoft 365' }).click();
  await page.getByRole('status').filter({ hasText: 'is federated' }).waitFor();
  assert.ok(!config().nextSigningCertificate);
  assert.ok(await entraAccepts(double, signedByNew));
  assert.ok(!(await entraAccepts(double, signedByOld)), 'after the grace period the old certificate is gone');

  // Disable: its consequences first, then Managed.
  await page.getByRole('button', { name: 'Disable…' }).click();
  await page.getByText('would go back to Managed').waitFor();
  await shot(page, join(shots, '08-disable-preview.png'), { fullPage: true });
  await page.getByRole('button', { name: 'Confirm: return contoso.com to Managed' }).click();
  await page.getByRole('status').filter({ hasText: 'is Managed' }).waitFor();
  assert.equal(double.state.domains.get('contoso.com').authenticationType, 'Managed');

  // Every step is on record, and the secret is nowhere in the server's log.
  const actions = JSON.parse(cli(['--json', 'audit', 'list'])).map((e) => e.action);
  for (const action of ['m365.credentials_set', 'm365.enable', 'app.cert_stage', 'app.cert_promote', 'm365.disable']) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }
  assert.ok(!started.stderr().includes(secret));
});
