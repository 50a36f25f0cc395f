// SAML sign-in in a real browser against a real `tessera serve`, set up only through the CLI,
// and accepted by independent service providers:
// - Debian's Shibboleth SP (shibd + mod_shib in Apache), SP-initiated, end to end;
// - python3-saml, SP-initiated, with JavaScript off (the Continue button);
// - Microsoft 365: the admin exports metadata, Chromium sends Entra's AuthnRequest, and the
//   response it posts to login.srf (captured: Microsoft is out of reach) is accepted by pysaml2
//   configured as Entra ID and verified by xmlsec1;
// - a user outside every granted group gets a refusal page and no assertion.
// Screenshots go to target/browser-artifacts/saml/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

import { artifacts, freePort, launchChromium, root, runCli, shot, startServer } from './harness.mjs';

const password = 'correct horse battery';
const python = process.env.TESSERA_ORACLE_PYTHON ?? join(root, '.venv/bin/python');
const shibSp = join(root, 'interop/shibboleth/sp.sh');
const ci = process.env.CI === 'true';

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch { /* best effort */ }
  }
});

function canRunShibboleth() {
  try {
    execFileSync('sh', ['-c', 'command -v shibd && command -v apache2'], { stdio: 'pipe' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/// Fields of an application/x-www-form-urlencoded body.
function formFields(body) {
  return Object.fromEntries(new URLSearchParams(body));
}

async function signIn(page, username) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  if (new URL(page.url()).pathname === '/notice') {
    await page.click('text=I understand');
  }
}

test('SAML sign-in through Shibboleth SP, python3-saml and Microsoft 365 (pysaml2 as Entra)', async (t) => {
  const shots = join(artifacts, 'saml');
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-saml-'));
  const work = mkdtempSync(join(tmpdir(), 'tessera-saml-files-'));
  const started = await startServer(dataDir, []);
  cleanups.push(() => started.server.kill('SIGTERM'));
  const base = started.base;
  const cli = (args, input) => runCli(dataDir, args, input);

  cli(['user', 'add', 'alice@contoso.com', '--first-name', 'Alice', '--password-stdin'], `${password}\n`);
  cli(['user', 'add', 'bob@contoso.com', '--password-stdin'], `${password}\n`);
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  const alice = JSON.parse(cli(['--json', 'user', 'show', 'alice@contoso.com']));
  cli(['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365']);
  cli(['app', 'grant', 'Microsoft 365', 'Staff']);
  const m365 = JSON.parse(cli(['--json', 'app', 'show', 'Microsoft 365']));
  // The seed's "Export Metadata".
  const m365Metadata = join(work, 'idp-m365.xml');
  writeFileSync(m365Metadata, cli(['app', 'metadata', 'Microsoft 365']));

  const browser = await launchChromium();
  cleanups.push(() => browser.close());

  // --- Shibboleth SP -------------------------------------------------------------------
  await t.test('Shibboleth SP accepts the response', async (st) => {
    if (!canRunShibboleth()) {
      assert.ok(!ci, 'Shibboleth SP (apache2, libapache2-mod-shib, root) is required under CI=true');
      st.skip('Shibboleth SP not available');
      return;
    }
    const shibWork = mkdtempSync('/tmp/tsh-');
    const shibPort = await freePort();
    cleanups.push(() => execFileSync(shibSp, ['stop', shibWork], { stdio: 'pipe' }));
    // The SP needs some IdP to start and publish its metadata; then the real one.
    execFileSync(shibSp, ['start', shibWork, String(shibPort), m365Metadata], { stdio: 'pipe' });
    const spMetadata = join(work, 'shib-sp.xml');
    writeFileSync(spMetadata, execFileSync(shibSp, ['metadata', shibWork, String(shibPort)], { encoding: 'utf8' }));
    cli(['app', 'add', 'saml', '--label', 'Shibboleth', '--sp-metadata', spMetadata,
      '--attribute', 'mail=email', '--attribute', 'uid=id']);
    cli(['app', 'grant', 'Shibboleth', 'Staff']);
    const idpMetadata = join(work, 'idp-shib.xml');
    writeFileSync(idpMetadata, cli(['app', 'metadata', 'Shibboleth']));
    execFileSync(shibSp, ['start', shibWork, String(shibPort), idpMetadata], { stdio: 'pipe' });

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${shibPort}/secure/`);
    assert.equal(new URL(page.url()).origin, base, 'the SP sent the browser to Tessera');
    await shot(page, join(shots, '01-shibboleth-to-tessera.png'));
    await signIn(page, 'alice@contoso.com');
    await page.waitForURL(`http://127.0.0.1:${shibPort}/secure/**`);
    const text = await page.textContent('body');
    let logs = '';
    if (!text.includes('mail=alice@contoso.com')) {
      logs = execFileSync(shibSp, ['logs', shibWork], { encoding: 'utf8' });
    }
    assert.match(text, /Shib-Session-ID=_/, logs);
    assert.match(text, /mail=alice@contoso\.com/, logs);
    assert.match(text, new RegExp(`uid=${alice.id}`), logs);
    await shot(page, join(shots, '02-shibboleth-secure.png'));

    // Bob is in no granted group: a refusal page at Tessera, never a session at the SP.
    const bobContext = await browser.newContext();
    const bobPage = await bobContext.newPage();
    await bobPage.goto(`http://127.0.0.1:${shibPort}/secure/`);
    await signIn(bobPage, 'bob@contoso.com');
    assert.equal(new URL(bobPage.url()).origin, base);
    assert.match(await bobPage.textContent('body'), /do not have access/);
    await shot(bobPage, join(shots, '03-bob-refused.png'));
    await bobContext.close();
    await context.close();
  });

  // --- python3-saml, with JavaScript off ------------------------------------------------
  await t.test('python3-saml accepts the response (no JavaScript)', async () => {
    const spPort = await freePort();
    const spBase = `http://127.0.0.1:${spPort}`;
    const spMetadata = join(work, 'p3s-sp.xml');
    writeFileSync(spMetadata, `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${spBase}/metadata">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${spBase}/acs" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`);
    cli(['app', 'add', 'saml', '--label', 'Python SP', '--sp-metadata', spMetadata, '--attribute', 'mail=email']);
    cli(['app', 'grant', 'Python SP', 'Staff']);
    const idpMetadata = join(work, 'idp-p3s.xml');
    writeFileSync(idpMetadata, cli(['app', 'metadata', 'Python SP']));
    const sp = ['--idp-metadata', idpMetadata, '--sp-entity-id', `${spBase}/metadata`, '--acs', `${spBase}/acs`];
    const [loginUrl, requestId] = execFileSync(python, [join(root, 'interop/python3_saml/sp.py'), 'authn-request', ...sp,
      '--relay-state', 'after-login'], { encoding: 'utf8' }).trim().split('\n');

    const context = await browser.newContext({ javaScriptEnabled: false });
    let posted = null;
    await context.route(`${spBase}/**`, async (route) => {
      posted = route.request().postData();
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'received' });
    });
    const page = await context.newPage();
    await page.goto(loginUrl);
    await signIn(page, 'alice@contoso.com');
    // Without JavaScript the auto-POST page waits for its Continue button.
    await page.waitForSelector('button[type=submit]');
    await shot(page, join(shots, '04-continue-without-javascript.png'));
    await page.click('button[type=submit]');
    await page.waitForURL(`${spBase}/acs`);
    assert.ok(posted, 'the response was posted to the ACS');
    const fields = formFields(posted);
    assert.equal(fields.RelayState, 'after-login');
    const report = JSON.parse(execFileSync(python, [join(root, 'interop/python3_saml/sp.py'), 'consume', ...sp,
      '--saml-response', fields.SAMLResponse, '--request-id', requestId, '--relay-state', fields.RelayState],
    { encoding: 'utf8' }));
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.nameid, 'alice@contoso.com');
    assert.deepEqual(report.attributes.mail, ['alice@contoso.com']);
    await context.close();
  });

  // --- Microsoft 365, SP-initiated as Entra starts it -----------------------------------
  await t.test('Microsoft 365: the response to login.srf passes pysaml2 as Entra and xmlsec1', async () => {
    const id = `_${randomUUID()}`;
    const request = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="${id}" IssueInstant="${new Date().toISOString()}" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>`;
    const query = `SAMLRequest=${encodeURIComponent(deflateRawSync(request).toString('base64'))}&RelayState=estsredirect`;
    const context = await browser.newContext();
    let posted = null;
    await context.route('https://login.microsoftonline.com/**', async (route) => {
      posted = { url: route.request().url(), body: route.request().postData() };
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Entra received the response' });
    });
    const page = await context.newPage();
    await page.goto(`${m365.endpoints.saml_sso}?${query}`);
    await signIn(page, 'alice@contoso.com');
    await page.waitForURL('https://login.microsoftonline.com/login.srf');
    assert.equal(posted.url, 'https://login.microsoftonline.com/login.srf');
    const fields = formFields(posted.body);
    assert.equal(fields.RelayState, 'estsredirect');
    const responseFile = join(work, 'm365-response.xml');
    writeFileSync(responseFile, Buffer.from(fields.SAMLResponse, 'base64'));
    const report = JSON.parse(execFileSync(python, [join(root, 'interop/pysaml2_sp_accept.py'), m365Metadata, responseFile, id],
      { encoding: 'utf8' }));
    assert.equal(report.issuer, m365.issuer);
    assert.equal(report.name_id, alice.immutable_id);
    assert.deepEqual(report.attributes.IDPEmail, [alice.upn]);
    const certificate = join(work, 'm365.pem');
    writeFileSync(certificate, `-----BEGIN CERTIFICATE-----\n${m365.signing_certificate.match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`);
    execFileSync('xmlsec1', ['--verify', '--pubkey-cert-pem', certificate, '--id-attr:ID',
      'urn:oasis:names:tc:SAML:2.0:assertion:Assertion', responseFile], { stdio: 'pipe' });
    await context.close();
  });
  assert.ok(existsSync(m365Metadata));
});
