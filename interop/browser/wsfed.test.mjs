// WS-Federation passive sign-in to Microsoft 365 in a real browser against a real
// `tessera serve`, set up only through the CLI:
// - Chromium follows Entra's redirect (wa=wsignin1.0, wtrealm, wctx, username), signs in, and
//   auto-POSTs wa, wresult and wctx to login.srf (captured: Microsoft is out of reach);
// - passport-wsfed-saml2, a WS-Federation relying party, accepts the wresult with the
//   connector's certificate (the one `tessera m365 command` prints) and refuses it with any
//   other certificate or once tampered with; xmlsec1 verifies the assertion;
// - Entra's sign-out ends the session and returns to Microsoft;
// - a user outside every granted group gets a refusal page and no token.
// Screenshots go to target/browser-artifacts/wsfed/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { artifacts, launchChromium, passportAccepts, root, runCli, shot, startServer } from './harness.mjs';

const require = createRequire(import.meta.url);
const { Strategy } = require('passport-wsfed-saml2');

const password = 'correct horse battery';
const realm = 'urn:federation:MicrosoftOnline';
const entraContext = 'LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAhZI9bBxFFMf3%2B7gPHSGx+/&x="<é>"';

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch { /* best effort */ }
  }
});

async function signIn(page, username) {
  await page.fill('#password', password);
  if ((await page.inputValue('#username')) !== username) {
    await page.fill('#username', username);
  }
  await page.click('button[type=submit]');
  if (new URL(page.url()).pathname === '/notice') {
    await page.click('text=I understand');
  }
}

test('WS-Federation passive sign-in to Microsoft 365, accepted by passport-wsfed-saml2', async () => {
  const shots = join(artifacts, 'wsfed');
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-wsfed-'));
  const work = mkdtempSync(join(tmpdir(), 'tessera-wsfed-files-'));
  const started = await startServer(dataDir, []);
  cleanups.push(() => started.server.kill('SIGTERM'));
  const cli = (args, input) => runCli(dataDir, args, input);

  cli(['user', 'add', 'alice@contoso.com', '--password-stdin'], `${password}\n`);
  cli(['user', 'add', 'bob@contoso.com', '--password-stdin'], `${password}\n`);
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  const alice = JSON.parse(cli(['--json', 'user', 'show', 'alice@contoso.com']));
  cli(['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365']);
  cli(['app', 'grant', 'Microsoft 365', 'Staff']);
  const app = JSON.parse(cli(['--json', 'app', 'show', 'Microsoft 365']));
  // What the admin pastes into PowerShell: the certificate Entra will check tokens against.
  const federation = JSON.parse(cli(['--json', 'm365', 'command', 'Microsoft 365']));
  assert.equal(federation.passive_sign_in_uri, app.endpoints.wsfed_passive);
  assert.equal(federation.signing_certificate, app.signing_certificate);

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const context = await browser.newContext();
  let posted = null;
  await context.route('https://login.microsoftonline.com/**', async (route) => {
    const request = route.request();
    posted = { url: request.url(), method: request.method(), fields: Object.fromEntries(new URLSearchParams(request.postData() ?? '')) };
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Entra received the token' });
  });
  const page = await context.newPage();
  const query = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: realm, wctx: entraContext, username: 'alice@contoso.com' });
  await page.goto(`${federation.passive_sign_in_uri}?${query}`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal(await page.inputValue('#username'), 'alice@contoso.com', 'the login hint pre-fills the form');
  await shot(page, join(shots, '01-login-with-hint.png'));
  await signIn(page, 'alice@contoso.com');
  await page.waitForURL('https://login.microsoftonline.com/login.srf');
  assert.equal(posted.method, 'POST');
  assert.equal(posted.fields.wa, 'wsignin1.0');
  assert.equal(posted.fields.wctx, entraContext, 'wctx comes back byte for byte');

  const profile = await passportAccepts(posted.fields, federation.signing_certificate);
  assert.equal(profile.issuer, app.issuer);
  assert.equal(profile['http://schemas.xmlsoap.org/claims/UPN'], 'alice@contoso.com');
  assert.equal(profile['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'], alice.immutable_id);

  // Any other certificate, or a changed token, is refused by the relying party.
  const otherCertificate = readFileSync(join(root, 'crates/tessera-xml/tests/data/attacker-cert.der')).toString('base64');
  await assert.rejects(passportAccepts(posted.fields, otherCertificate));
  const tampered = { ...posted.fields, wresult: posted.fields.wresult.replace('alice@contoso.com', 'mallory@contoso.com') };
  await assert.rejects(passportAccepts(tampered, federation.signing_certificate));

  // xmlsec1 verifies the assertion inside the RSTR.
  const wresultFile = join(work, 'wresult.xml');
  writeFileSync(wresultFile, posted.fields.wresult);
  const certFile = join(work, 'cert.pem');
  writeFileSync(certFile, `-----BEGIN CERTIFICATE-----\n${federation.signing_certificate.match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`);
  execFileSync('xmlsec1', ['--verify', '--pubkey-cert-pem', certFile,
    '--id-attr:AssertionID', 'urn:oasis:names:tc:SAML:1.0:assertion:Assertion',
    '--node-xpath', "//*[local-name()='Assertion']/*[local-name()='Signature']", wresultFile], { stdio: 'pipe' });

  // Entra's sign-out: the session ends and the browser returns to Microsoft.
  const back = 'https://login.microsoftonline.com/login.srf?wa=wsignoutcleanup1.0';
  // (Fetched with the browser's cookies without following the redirect: Chromium does not hand
  // a redirect to a route handler, and Microsoft is out of reach.)
  const signOut = await context.request.get(`${federation.sign_out_uri}?${new URLSearchParams({ wa: 'wsignout1.0', wreply: back })}`,
    { maxRedirects: 0, headers: { 'sec-fetch-dest': 'document' } });
  assert.equal(signOut.status(), 303);
  assert.equal(signOut.headers().location, back);
  posted = null;
  await page.goto(`${federation.passive_sign_in_uri}?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: realm })}`);
  assert.equal(new URL(page.url()).pathname, '/login', 'signed out: asked to sign in again');
  assert.equal(posted, null);
  await context.close();

  // Bob is in no granted group: a refusal page, nothing posted to Microsoft.
  const bobContext = await browser.newContext();
  let bobPosted = false;
  await bobContext.route('https://login.microsoftonline.com/**', async (route) => {
    bobPosted = true;
    await route.fulfill({ status: 200, body: '' });
  });
  const bobPage = await bobContext.newPage();
  await bobPage.goto(`${federation.passive_sign_in_uri}?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: realm })}`);
  await signIn(bobPage, 'bob@contoso.com');
  assert.match(await bobPage.textContent('body'), /do not have access/);
  assert.equal(bobPosted, false);
  await shot(bobPage, join(shots, '02-bob-refused.png'));
  await bobContext.close();
});

test('a WS-Federation relying party registered with the CLI: passport-wsfed-saml2 starts and accepts the sign-in', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-wsfed-rp-'));
  const started = await startServer(dataDir, []);
  cleanups.push(() => started.server.kill('SIGTERM'));
  const cli = (args, input) => runCli(dataDir, args, input);
  const rpRealm = 'urn:contoso:wiki';
  const callback = 'https://wiki.contoso.test/wsfed/callback';
  cli(['user', 'add', 'alice@contoso.com', '--password-stdin'], `${password}\n`);
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  cli(['app', 'add', 'wsfed', '--label', 'Wiki', '--realm', rpRealm, '--reply-url', callback,
    '--attribute', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn=upn']);
  cli(['app', 'grant', 'Wiki', 'Staff']);
  const app = JSON.parse(cli(['--json', 'app', 'show', 'Wiki']));

  // The relying party starts the sign-in itself: passport's own redirect to Tessera.
  const options = { realm: rpRealm, identityProviderUrl: app.endpoints.wsfed_passive, wreply: callback };
  const starter = new Strategy({ ...options, cert: app.signing_certificate }, (profile, done) => done(null, profile));
  const signInUrl = await new Promise((resolve, reject) => {
    starter.redirect = resolve;
    starter.error = reject;
    starter.authenticate({ method: 'GET', query: {}, body: {}, headers: {} }, { wctx: 'wiki-state-42' });
  });

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const context = await browser.newContext();
  let posted = null;
  await context.route(`${callback}**`, async (route) => {
    posted = Object.fromEntries(new URLSearchParams(route.request().postData() ?? ''));
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'the wiki received the token' });
  });
  const page = await context.newPage();
  await page.goto(signInUrl);
  await signIn(page, 'alice@contoso.com');
  await page.waitForURL(callback);
  assert.equal(posted.wctx, 'wiki-state-42');
  const profile = await passportAccepts(posted, app.signing_certificate, { realm: rpRealm });
  assert.equal(profile.issuer, app.issuer);
  assert.equal(profile['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'], 'alice@contoso.com');
  // Another relying party's realm in the token is not accepted by this one.
  await assert.rejects(passportAccepts(posted, app.signing_certificate, { realm: 'urn:contoso:other' }));
  await context.close();
});
