// The sign-in journey in a real browser: sign in, acknowledge the notice, enrol TOTP, sign
// out, sign in with TOTP, and see exactly the granted tiles. Screenshots go to
// target/browser-artifacts/. Run by scripts/test after the Rust tests (which build the binary).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { artifacts, base32Decode, launchChromium, runCli, shot, startServer, throwawayPostgres, totp } from './harness.mjs';
const password = 'correct horse battery';

const step = () => Math.floor(Date.now() / 1000 / 30);

const servers = [];
let browser;
after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
});

test('the journey on SQLite', async () => {
  await journey('sqlite', []);
});

test('the journey on PostgreSQL', async (t) => {
  const db = throwawayPostgres();
  if (!db) {
    t.skip('no PostgreSQL at 127.0.0.1:5432');
    return;
  }
  try {
    await journey('postgres', ['--database-url', db.url]);
  } finally {
    for (const server of servers.splice(0)) server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    db.drop();
  }
});

// Sign in, acknowledge the notice, enrol TOTP, sign out, sign in with TOTP, see exactly the
// granted tiles.
async function journey(backend, databaseArgs) {
  const shots = join(artifacts, backend);
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-browser-'));
  const cli = (args, input) => runCli(dataDir, [...databaseArgs, ...args], input);
  cli(['user', 'add', 'alice@contoso.com', '--first-name', 'Alice', '--password-stdin'], `${password}\n`);
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  cli(['app', 'add', 'bookmark', '--label', 'Wiki', '--url', 'https://wiki.contoso.com/', '--description', 'Team wiki']);
  cli(['app', 'add', 'bookmark', '--label', 'Payroll', '--url', 'https://payroll.contoso.com/']);
  cli(['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365']);
  cli(['app', 'grant', 'Wiki', 'Staff']);
  cli(['app', 'grant', 'Microsoft 365', 'Staff']);
  const started = await startServer(dataDir, databaseArgs);
  servers.push(started.server);
  const base = started.base;

  browser ??= await launchChromium();
  const context = await browser.newContext();
  const page = await context.newPage();

  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login$/);
  await shot(page, join(shots, '01-login.png'));
  await page.fill('#username', 'alice@contoso.com');
  await page.fill('#password', 'not the password');
  await page.click('button[type=submit]');
  assert.match(await page.textContent('.error'), /incorrect/);

  await page.fill('#username', 'alice@contoso.com');
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  assert.match(page.url(), /\/notice$/);
  await shot(page, join(shots, '02-notice.png'));
  await page.click('text=I understand');
  assert.equal(new URL(page.url()).pathname, '/');

  await page.click('text=Set up an authenticator app');
  const secret = base32Decode(await page.textContent('#secret'));
  assert.match(await page.getAttribute('#otpauth', 'href'), /^otpauth:\/\/totp\/Tessera:alice@contoso\.com\?secret=/);
  await shot(page, join(shots, '03-enrol-totp.png'));
  const enrolStep = step();
  await page.fill('#code', totp(secret, enrolStep));
  await page.click('button[type=submit]');
  const codes = await page.$$eval('.codes code', (nodes) => nodes.map((n) => n.textContent));
  assert.equal(codes.length, 10);
  await shot(page, join(shots, '04-recovery-codes.png'));
  await page.click('#continue');

  await page.click('text=Sign out');
  assert.match(page.url(), /\/login$/);

  await page.fill('#username', 'alice@contoso.com');
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  assert.match(page.url(), /\/login\/mfa$/);
  await shot(page, join(shots, '05-mfa.png'));
  // The enrolment code was used once already: a later step's code.
  await page.fill('#code', totp(secret, enrolStep + 1));
  await page.click('button[type=submit]');
  assert.equal(new URL(page.url()).pathname, '/');

  const tiles = await page.$$eval('.tile strong', (nodes) => nodes.map((n) => n.textContent).sort());
  assert.deepEqual(tiles, ['Microsoft 365', 'Wiki']);
  await shot(page, join(shots, '06-portal.png'), { fullPage: true });

  const wiki = await page.getAttribute('a[data-app="Wiki"]', 'href');
  const launch = await context.request.get(`${base}${wiki}`, { maxRedirects: 0 });
  assert.equal(launch.status(), 303);
  assert.equal(launch.headers().location, 'https://wiki.contoso.com/');

  const csp = (await context.request.get(`${base}/login`)).headers()['content-security-policy'];
  assert.match(csp, /frame-ancestors 'none'/);
  await context.close();
}
