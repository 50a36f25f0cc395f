// The admin portal in a real browser: the first administrator signs in with the one-time
// password `serve` printed, chooses their own, and finds the SSO Applications list and its
// search, with JavaScript on and off. Screenshots go to target/browser-artifacts/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { artifacts, launchChromium, runCli, shot, startServer } from './harness.mjs';

const servers = [];
let browser;
after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
});

for (const javaScriptEnabled of [true, false]) {
  test(`the first administrator signs in and finds SSO Applications (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
    const name = javaScriptEnabled ? 'admin' : 'admin-nojs';
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-admin-'));
    mkdirSync(artifacts, { recursive: true });
    const { server, base, stderr } = await startServer(dataDir, []);
    servers.push(server);
    const oneTime = /one-time password: (\S+)/.exec(stderr())?.[1];
    assert.ok(oneTime, `serve printed no one-time password: ${stderr()}`);
    runCli(dataDir, ['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365 (contoso.com)']);
    runCli(dataDir, ['app', 'add', 'bookmark', '--label', 'Intranet', '--url', 'https://intranet.contoso.com']);

    browser ??= await launchChromium();
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    await page.goto(`${base}/admin`);
    assert.equal(new URL(page.url()).pathname, '/admin/login');
    await shot(page, join(artifacts, `${name}-01-sign-in.png`), { fullPage: true });
    await page.getByLabel('Administrator name').fill('admin');
    await page.getByLabel('Password').fill(oneTime);
    await page.getByRole('button', { name: 'Sign in' }).click();

    assert.equal(new URL(page.url()).pathname, '/admin/password');
    await shot(page, join(artifacts, `${name}-02-choose-password.png`), { fullPage: true });
    await page.getByLabel('New password', { exact: true }).fill('the first administrator');
    await page.getByLabel('New password again').fill('the first administrator');
    await page.getByRole('button', { name: 'Save password' }).click();

    assert.equal(new URL(page.url()).pathname, '/admin/applications');
    await page.getByRole('heading', { name: 'SSO Applications' }).waitFor();
    const table = page.getByRole('table', { name: 'Configured applications' });
    await table.getByRole('cell', { name: /Microsoft 365 \(contoso\.com\)/ }).waitFor();
    await table.getByRole('cell', { name: /Intranet/ }).waitFor();
    await shot(page, join(artifacts, `${name}-03-sso-applications.png`), { fullPage: true });
    await page.getByLabel('Search applications').fill('intranet');
    await page.getByRole('button', { name: 'Search' }).click();
    assert.equal(await page.getByRole('row').count(), 2, 'the header and Intranet');
    await shot(page, join(artifacts, `${name}-04-search.png`), { fullPage: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    assert.equal(new URL(page.url()).pathname, '/admin/login');
    await context.close();
    // The CLI sees the same administrator, with a password of their own now.
    const admins = JSON.parse(runCli(dataDir, ['admin', 'list', '--json']));
    assert.deepEqual(admins.map((a) => [a.username, a.must_change_password]), [['admin', false]]);
  });
}
