// Passkeys in a real browser (issue 24): Chromium's virtual authenticator (DevTools protocol,
// WebAuthn domain; a platform authenticator that verifies the user) enrols a passkey from the
// account page of a server whose public URL is http://localhost:PORT. Screenshots go to
// target/browser-artifacts/passkey/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { artifacts, launchChromium, runCli, shot, startServer } from './harness.mjs';
const password = 'correct horse battery';

const servers = [];
let browser;
after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
});

test('a passkey is enrolled from the account page with the browser authenticator', async () => {
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
  await Promise.all([page.waitForURL(/\/account/), page.click('#passkey-create')]);
  await page.waitForLoadState();
  const refusal = await page.locator('#passkeys-error, #passkey-error:visible').allTextContents();
  assert.match(page.url(), /done=passkey-added/, `${refusal.join(' ')} ${started.stderr()}`);
  assert.match(await page.textContent('.notice'), /The passkey has been added/);
  assert.match(await page.textContent('#passkeys'), /Laptop/);
  await shot(page, join(shots, '02-added.png'), { fullPage: true });

  const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds the new passkey');
  assert.equal(credentials[0].rpId, 'localhost');
  const listed = JSON.parse(cli(['user', 'passkey', 'list', 'alice@contoso.com', '--json']));
  assert.deepEqual(listed.map((p) => p.name), ['Laptop']);
  await context.close();
});
