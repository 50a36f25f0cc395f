// The rest of an administrator's day in a real browser, against a real `tessera serve` set up
// through the CLI: a user's SP-initiated Microsoft 365 sign-in (a wrong password first) shows on
// the dashboard and in its trace; a refused one shows its reason; a CSV import is previewed,
// then imported; an application administrator sees and changes only their application and is
// refused everything else; an auditor reads and changes nothing. Afterwards no password
// appears in the database or the server's log. Screenshots go to target/browser-artifacts/day/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

import { artifacts, launchChromium, runCli, shot, startServer } from './harness.mjs';

const password = 'correct horse battery';
const wrong = 'Autumn2026!-not-hers';
const adminPasswords = { boss: 'the boss own password', ann: 'ann the app admin', otto: 'otto reads everything' };

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch { /* best effort */ }
  }
});

async function signIn(page, username, secret) {
  await page.fill('#username', username);
  await page.fill('#password', secret);
  await page.click('button[type=submit]');
  if (new URL(page.url()).pathname === '/notice') {
    await page.click('text=I understand');
  }
}

async function adminSignIn(browser, base, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/admin/login`);
  await page.getByLabel('Administrator name').fill(name);
  await page.getByLabel('Password').fill(adminPasswords[name]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(new URL(page.url()).pathname, '/admin/applications');
  return { context, page };
}

function entraQuery(id) {
  const request = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="${id}" IssueInstant="${new Date().toISOString()}" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>`;
  return `SAMLRequest=${encodeURIComponent(deflateRawSync(request).toString('base64'))}&RelayState=estsredirect`;
}

test("an administrator's day: dashboard, traces, an import, and roles held", async () => {
  const shots = join(artifacts, 'day');
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-day-'));
  const started = await startServer(dataDir, []);
  cleanups.push(() => started.server.kill('SIGTERM'));
  const { base } = started;
  const cli = (args, input) => runCli(dataDir, args, input);

  cli(['user', 'add', 'alice@contoso.com', '--first-name', 'Alice', '--password-stdin'], `${password}\n`);
  cli(['user', 'add', 'bob@contoso.com', '--password-stdin'], `${password}\n`);
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  cli(['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365']);
  cli(['app', 'add', 'bookmark', '--label', 'Wiki', '--url', 'https://wiki.contoso.com/']);
  cli(['app', 'grant', 'Microsoft 365', 'Staff']);
  cli(['app', 'trace', 'Microsoft 365', '--minutes', '60']);
  const m365 = JSON.parse(cli(['--json', 'app', 'show', 'Microsoft 365']));
  cli(['admin', 'add', 'boss', '--password-stdin'], `${adminPasswords.boss}\n`);
  cli(['admin', 'add', 'ann', '--password-stdin', '--role', 'app-admin', '--app', 'Wiki'], `${adminPasswords.ann}\n`);
  cli(['admin', 'add', 'otto', '--password-stdin', '--role', 'auditor'], `${adminPasswords.otto}\n`);

  const browser = await launchChromium();
  cleanups.push(() => browser.close());

  // Alice signs in to Microsoft 365 as Entra starts it: a wrong password, then hers.
  const id = `_${randomUUID()}`;
  const userContext = await browser.newContext();
  let posted = null;
  await userContext.route('https://login.microsoftonline.com/**', async (route) => {
    posted = route.request().postData();
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Entra received the response' });
  });
  const user = await userContext.newPage();
  await user.goto(`${m365.endpoints.saml_sso}?${entraQuery(id)}`);
  await signIn(user, 'alice@contoso.com', wrong);
  assert.equal(new URL(user.url()).pathname, '/login');
  await signIn(user, 'alice@contoso.com', password);
  await user.waitForURL('https://login.microsoftonline.com/login.srf');
  assert.ok(posted?.includes('SAMLResponse'));
  await userContext.close();
  // Bob is in no granted group: refused, with the reason on the page.
  const bobContext = await browser.newContext();
  const bob = await bobContext.newPage();
  await bob.goto(`${m365.endpoints.saml_sso}?${entraQuery(`_${randomUUID()}`)}`);
  await signIn(bob, 'bob@contoso.com', password);
  await bob.getByText('You cannot open this application').waitFor();
  await shot(bob, join(shots, '01-bob-refused.png'), { fullPage: true });
  await bobContext.close();

  // The full administrator: the dashboard shows both, the traces say what happened.
  const { context: bossContext, page: boss } = await adminSignIn(browser, base, 'boss');
  await boss.getByRole('link', { name: 'Dashboard' }).click();
  const chart = boss.getByRole('img', { name: 'Sign-in events per hour' });
  await chart.waitFor();
  assert.match(await boss.locator('#chart-desc').textContent(), /^1 sign-ins, 1 failures and 1 refusals over 168 hours/);
  await shot(boss, join(shots, '02-dashboard.png'), { fullPage: true });
  await boss.goto(`${base}/admin/applications/${m365.id}/sign-ins`);
  await shot(boss, join(shots, '03-sign-ins-tab.png'), { fullPage: true });
  const traces = boss.getByRole('link', { name: /^Trace of the sign-in/ });
  assert.equal(await traces.count(), 2);
  await traces.last().click(); // newest first: the last is Alice's
  await boss.getByText('Password refused: wrong password.').first().waitFor();
  for (const text of [id, 'Password accepted.', 'Policy and authorization allowed it; SAML token issued',
    'Kept while tracing was on, without its signature value.']) {
    assert.ok((await boss.content()).includes(text), text);
  }
  assert.doesNotMatch(await boss.locator('pre').textContent(), /SignatureValue>[A-Za-z0-9+/=\s]{20,}</);
  await shot(boss, join(shots, '04-trace-alice.png'), { fullPage: true });
  await boss.goBack();
  await traces.first().click();
  await boss.getByText('Refused by policy or authorization: no granted group.', { exact: true }).waitFor();
  await shot(boss, join(shots, '05-trace-bob-refused.png'), { fullPage: true });

  // A CSV import: previewed, then imported.
  await boss.getByRole('link', { name: 'Users' }).click();
  await boss.getByRole('link', { name: 'Import users' }).click();
  await boss.getByLabel('CSV file').setInputFiles({
    name: 'people.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('email,first_name,last_name,groups\r\ncarol@contoso.com,Carol,Ng,Staff;Finance\r\ndan@contoso.com,Dan,,Finance\r\n'),
  });
  await boss.getByRole('button', { name: 'Preview' }).click();
  await boss.getByText('Preview: nothing is imported yet').waitFor();
  assert.ok((await boss.content()).includes('New groups to create: Finance'));
  await shot(boss, join(shots, '06-import-preview.png'), { fullPage: true });
  await boss.getByRole('button', { name: 'Import these users' }).click();
  await boss.getByText('Imported 2 users and 3 group memberships. Created groups: Finance.').waitFor();
  await shot(boss, join(shots, '07-imported.png'), { fullPage: true });
  assert.equal(JSON.parse(cli(['--json', 'user', 'show', 'carol@contoso.com'])).last_name, 'Ng');
  // A bad file: every problem by line, nothing imported.
  await boss.goto(`${base}/admin/users/import`);
  await boss.getByLabel('CSV file').setInputFiles({
    name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('email,last_name\nerin@contoso.com,=cmd|calc!A0\ncarol@contoso.com,\n'),
  });
  await boss.getByRole('button', { name: 'Preview' }).click();
  await boss.getByText('Nothing was imported.').waitFor();
  await shot(boss, join(shots, '08-import-refused.png'), { fullPage: true });
  await bossContext.close();

  // The application administrator: their application only.
  const { context: annContext, page: ann } = await adminSignIn(browser, base, 'ann');
  const rows = await ann.locator('table tbody tr').allTextContents();
  assert.equal(rows.length, 1);
  assert.match(rows[0], /Wiki/);
  assert.equal(await ann.getByRole('link', { name: '+ Add New Application' }).count(), 0);
  await shot(ann, join(shots, '09-app-admin-list.png'), { fullPage: true });
  await ann.getByRole('link', { name: 'Wiki' }).click();
  await ann.getByRole('link', { name: 'Access policy' }).click();
  await ann.getByRole('button', { name: 'save' }).click();
  await ann.getByText('Saved.').waitFor();
  for (const path of [`/admin/applications/${m365.id}/general`, `/admin/applications/${m365.id}/sign-ins`]) {
    const response = await ann.goto(`${base}${path}`);
    assert.equal(response.status(), 404, path);
    assert.ok(!(await ann.content()).includes('Microsoft 365'), path);
  }
  await shot(ann, join(shots, '10-app-admin-not-found.png'), { fullPage: true });
  for (const path of ['/admin/users', '/admin/audit', '/admin/dashboard', '/admin/applications/new']) {
    assert.equal((await ann.goto(`${base}${path}`)).status(), 403, path);
  }
  await shot(ann, join(shots, '11-app-admin-forbidden.png'), { fullPage: true });
  await annContext.close();

  // The auditor: every page, no change.
  const { context: ottoContext, page: otto } = await adminSignIn(browser, base, 'otto');
  await otto.goto(`${base}/admin/applications/${m365.id}/general`);
  await otto.getByText('Read-only: your role changes nothing.').waitFor();
  assert.equal(await otto.getByRole('button', { name: 'Save Application' }).count(), 0);
  await shot(otto, join(shots, '12-auditor-read-only.png'), { fullPage: true });
  await otto.goto(`${base}/admin/audit?action=signin.`);
  assert.ok((await otto.content()).includes('signin.failure'));
  await shot(otto, join(shots, '13-auditor-audit-log.png'), { fullPage: true });
  await ottoContext.close();

  // No password was written anywhere: the database files and the server's log.
  started.server.kill('SIGTERM');
  await new Promise((done) => started.server.once('exit', done));
  const secrets = [password, wrong, ...Object.values(adminPasswords)];
  const files = readdirSync(dataDir, { recursive: true }).map((f) => join(dataDir, String(f)));
  for (const file of files) {
    let bytes;
    try { bytes = readFileSync(file); } catch { continue; }
    for (const secret of secrets) assert.ok(!bytes.includes(secret), `${secret} in ${file}`);
  }
  for (const secret of secrets) assert.ok(!started.stderr().includes(secret), `${secret} in the log`);
});
