// Passkeys in a real browser (issue 24): Chromium's virtual authenticator (DevTools protocol,
// WebAuthn domain; a platform authenticator that verifies the user) enrols a passkey from the
// account page of a server whose public URL is http://localhost:PORT; then Microsoft 365, set to
// take a passkey only, is signed in to over WS-Federation with it as the second step, and again
// with the passkey alone (no password); passport-wsfed-saml2 accepts both tokens, which say
// multipleauthn (so Entra, under acceptIfMfaDoneByFederatedIdp, does not prompt again).
// Screenshots go to target/browser-artifacts/passkey/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { artifacts, launchChromium, passportAccepts, runCli, shot, startServer } from './harness.mjs';
const password = 'correct horse battery';
const multipleAuthn = 'http://schemas.microsoft.com/claims/multipleauthn';

const servers = [];
let browser;
after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
});

test('a passkey enrolled from the account page signs in to Microsoft 365, as the second step and alone', async () => {
  const shots = join(artifacts, 'passkey');
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-passkey-'));
  const cli = (args, input) => runCli(dataDir, args, input);
  cli(['user', 'add', 'alice@contoso.com', '--first-name', 'Alice', '--password-stdin'], `${password}\n`);
  const started = await startServer(dataDir, [], 'localhost');
  servers.push(started.server);
  const base = started.base;

  browser ??= await launchChromium();
  const context = await browser.newContext();
  const page = await context.newPage();
  const devtools = await context.newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  await page.goto(`${base}/login`);
  await page.fill('#username', 'alice@contoso.com');
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.click('text=I understand');
  await page.goto(`${base}/account`);
  await page.fill('#passkey-name', 'Laptop');
  await page.fill('#passkey-password', password);
  await page.click('text=Add a passkey');
  assert.match(await page.textContent('h1'), /Add a passkey/);
  await shot(page, join(shots, '01-create.png'));
  await Promise.all([page.waitForURL((url) => url.pathname !== '/account/passkeys/new'), page.click('#passkey-create')]);
  await page.waitForLoadState();
  const refusal = await page.locator('#passkeys-error, #passkey-error:visible').allTextContents();
  assert.match(page.url(), /done=passkey-added/, `${refusal.join(' ')} ${started.stderr()}`);
  assert.match(await page.textContent('.notice'), /The passkey has been added/);
  assert.match(await page.textContent('#passkeys'), /Laptop/);
  await shot(page, join(shots, '02-added.png'), { fullPage: true });

  const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds the new passkey');
  assert.equal(credentials[0].rpId, 'localhost');
  assert.equal(credentials[0].isResidentCredential, true, 'discoverable: it can sign in without a username');
  const listed = JSON.parse(cli(['user', 'passkey', 'list', 'alice@contoso.com', '--json']));
  assert.deepEqual(listed.map((p) => p.name), ['Laptop']);

  // Microsoft 365 takes a passkey only (and a passkey alone).
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  cli(['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365']);
  cli(['app', 'grant', 'Microsoft 365', 'Staff']);
  cli(['app', 'policy', 'Microsoft 365', '--require-mfa', 'phishing-resistant', '--passwordless', 'yes']);
  const federation = JSON.parse(cli(['--json', 'm365', 'command', 'Microsoft 365']));
  let posted = null;
  await context.route('https://login.microsoftonline.com/**', async (route) => {
    posted = Object.fromEntries(new URLSearchParams(route.request().postData() ?? ''));
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Entra received the token' });
  });
  const entraSends = `${federation.passive_sign_in_uri}?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: 'urn:federation:MicrosoftOnline' })}`;
  const accepted = async (what) => {
    const profile = await passportAccepts(posted, federation.signing_certificate);
    assert.equal(profile['http://schemas.xmlsoap.org/claims/UPN'], 'alice@contoso.com', what);
    assert.equal(profile['http://schemas.microsoft.com/claims/authnmethodsreferences'], multipleAuthn, what);
  };

  // Signed in with her password only: the second step offers her passkey alone.
  await page.goto(entraSends);
  assert.equal(new URL(page.url()).pathname, '/login/mfa');
  assert.match(await page.textContent('main'), /accepts only a passkey/);
  assert.equal(await page.locator('#code').count(), 0, 'no code field');
  await shot(page, join(shots, '03-passkey-only.png'));
  await Promise.all([page.waitForURL('https://login.microsoftonline.com/login.srf'), page.click('#passkey-use')]);
  await accepted('the passkey as the second step');

  // Signed out, then the passkey alone: no username, no password.
  posted = null;
  await page.goto(`${base}/`);
  await page.click('text=Sign out');
  await page.goto(entraSends);
  assert.equal(new URL(page.url()).pathname, '/login');
  await shot(page, join(shots, '04-login-with-passkey.png'));
  await page.click('#passkey-sign-in');
  assert.match(await page.textContent('h1'), /Sign in with a passkey/);
  await shot(page, join(shots, '05-passkey-alone.png'));
  await Promise.all([page.waitForURL('https://login.microsoftonline.com/login.srf'), page.click('#passkey-use')]);
  await accepted('the passkey alone');
  const used = JSON.parse(cli(['user', 'passkey', 'list', 'alice@contoso.com', '--json']));
  assert.ok(used[0].last_used_at, 'its last use is shown');
  await context.close();
});

test('an administrator adds a passkey and signs in to the admin portal with it', async () => {
  const shots = join(artifacts, 'passkey');
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-admin-passkey-'));
  const adminPassword = 'erin the administrator';
  runCli(dataDir, ['admin', 'add', 'erin', '--password-stdin'], `${adminPassword}\n`);
  const started = await startServer(dataDir, [], 'localhost');
  servers.push(started.server);
  const base = started.base;

  browser ??= await launchChromium();
  const context = await browser.newContext();
  const page = await context.newPage();
  const devtools = await context.newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const signIn = async () => {
    await page.goto(`${base}/admin/login`);
    await page.getByLabel('Administrator name').fill('erin');
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  await signIn();
  assert.equal(new URL(page.url()).pathname, '/admin/applications');
  await page.goto(`${base}/admin/mfa/enrol`);
  await page.getByLabel('Name of the new passkey').fill('Security key');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  assert.match(await page.textContent('h1'), /Add a passkey/);
  await Promise.all([page.waitForURL(/done=passkey-added/), page.click('#passkey-create')]);
  assert.match(await page.textContent('#passkeys'), /Security key/, started.stderr());
  await shot(page, join(shots, '06-admin-passkey-added.png'), { fullPage: true });

  await page.goto(`${base}/admin/applications`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn();
  assert.equal(new URL(page.url()).pathname, '/admin/mfa');
  assert.equal(await page.locator('#code').count(), 0, 'no authenticator app: no code field');
  await shot(page, join(shots, '07-admin-second-factor.png'));
  await Promise.all([page.waitForURL(/\/admin\/applications/), page.click('#passkey-use')]);
  const audit = JSON.parse(runCli(dataDir, ['audit', 'list', '--json']));
  assert.ok(audit.some((e) => e.action === 'admin.mfa' && e.summary.factor === 'passkey'), 'the passkey sign-in is audited');
  await context.close();
});
