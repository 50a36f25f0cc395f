// The admin portal in a real browser, following the seed document: the first administrator
// signs in with the one-time password `serve` printed, enrols an authenticator app (`serve
// --admin-mfa required`), chooses their own password, finds SSO Applications, adds Microsoft 365
// from the catalog, reads the SSO tab, exports the metadata (read by pysaml2), authorizes a
// group, regenerates the certificate through its warning and deletes the application with the
// typed count; with JavaScript on and off. Screenshots go to target/browser-artifacts/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { artifacts, base32Decode, launchChromium, root, runCli, shot, startServer, throwawayPostgres, totp } from './harness.mjs';

// A User Portal Image: a PNG of 16 by 16 pixels.
const TILE_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABlklEQVR42hXR4RiFMQiG4Q9hCEMIYQghhDCEEIbwIIQQQgghDOHs9Lu7662+72N8zA/5WB/6YR/7wz/OBx/xkR/10R/34/sGYzAHMlgDHdhgD3xwBgxikIMa9OCOByZjMicyWROd2GRPfHImTGKSk5r05M4HhCFMQYQlqGDCFlw4AkIIKZTQwpUHFmMxF7JYC13YYi98cRYsYpGLWvTirgeUoUxFlKWoYspWXDkKSiiplNLK1QeMYUxDjGWoYcY23DgGRhhplNHGtQc2YzM3slkb3dhmb3xzNmxik5va9ObuB5zhTEec5ahjznbcOQ5OOOmU0871Bw7jMA9yWAc92GEf/HAOHOKQhzr04Z4H/s95534HfCd5S77YL8gb/Zr/FZBQ0HDf679gBDOQYAUaWLADD0782yPIoIIObjyQjGQmkqxEE0t24snJ//BIMqmkk5sPFKOYhRSr0MKKXXhx6h8liiyq6OLWA81oZiPNarSxZjfenP4Hjyabarq5/cBlXOZFLuuiF7vsi1/O/a8Zl7zUpS/38gNq4ZAQAX6pcwAAAABJRU5ErkJggg==',
  'base64',
);

const python = process.env.TESSERA_ORACLE_PYTHON ?? join(root, '.venv/bin/python');
// Every server this file starts requires a second factor of its administrators.
process.env.TESSERA_ADMIN_MFA = 'required';

const servers = [];
let browser;
after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
});

const journeys = [
  { name: 'admin', javaScriptEnabled: true, database: 'sqlite' },
  { name: 'admin-nojs', javaScriptEnabled: false, database: 'sqlite' },
  { name: 'admin-postgres', javaScriptEnabled: true, database: 'postgres' },
];

for (const { name, javaScriptEnabled, database } of journeys) {
  test(`the seed's journey in the admin portal (${database}, JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async (t) => {
    const db = database === 'postgres' ? throwawayPostgres() : undefined;
    if (db === null) {
      t.skip('no PostgreSQL at 127.0.0.1:5432');
      return;
    }
    t.after(() => db?.drop());
    const dbArgs = db ? ['--database-url', db.url] : [];
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-admin-'));
    const cli = (args) => runCli(dataDir, [...dbArgs, ...args]);
    mkdirSync(artifacts, { recursive: true });
    const { server, base, stderr } = await startServer(dataDir, dbArgs);
    servers.push(server);
    t.after(() => server.kill('SIGTERM'));
    const oneTime = /one-time password: (\S+)/.exec(stderr())?.[1];
    assert.ok(oneTime, `serve printed no one-time password: ${stderr()}`);
    cli(['app', 'add', 'm365', '--domain', 'contoso.com', '--label', 'Microsoft 365 (contoso.com)']);
    cli(['app', 'add', 'bookmark', '--label', 'Intranet', '--url', 'https://intranet.contoso.com']);

    browser ??= await launchChromium();
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    await page.goto(`${base}/admin`);
    assert.equal(new URL(page.url()).pathname, '/admin/login');
    await shot(page, join(artifacts, `${name}-01-sign-in.png`), { fullPage: true });
    await page.getByLabel('Administrator name').fill('admin');
    await page.getByLabel('Password').fill(oneTime);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // The second factor comes first: an authenticator app, enrolled with a code from it.
    assert.equal(new URL(page.url()).pathname, '/admin/mfa/enrol');
    await page.getByRole('img', { name: 'QR code' }).waitFor();
    await shot(page, join(artifacts, `${name}-01b-enrol-authenticator.png`), { fullPage: true });
    const secret = base32Decode(await page.textContent('#secret'));
    await page.getByRole('textbox', { name: 'Code' }).fill(totp(secret, Math.floor(Date.now() / 1000 / 30)));
    await page.getByRole('button', { name: 'Turn on' }).click();

    assert.equal(new URL(page.url()).pathname, '/admin/password');
    await shot(page, join(artifacts, `${name}-02-choose-password.png`), { fullPage: true });
    await page.getByLabel('New password', { exact: true }).fill('the first administrator');
    await page.getByLabel('New password again').fill('the first administrator');
    await page.getByRole('button', { name: 'Save password' }).click();

    assert.equal(new URL(page.url()).pathname, '/admin/applications');
    await page.getByRole('heading', { name: 'SSO Applications' }).waitFor();
    const table = page.getByRole('table', { name: 'Configured applications' });
    await table.getByRole('link', { name: 'Microsoft 365 (contoso.com)' }).waitFor();
    await table.getByRole('link', { name: 'Intranet' }).waitFor();
    await shot(page, join(artifacts, `${name}-03-sso-applications.png`), { fullPage: true });
    await page.getByLabel('Search applications').fill('intranet');
    await page.getByRole('button', { name: 'Search' }).click();
    assert.equal(await page.getByRole('row').count(), 2, 'the header and Intranet');
    await shot(page, join(artifacts, `${name}-04-search.png`), { fullPage: true });

    await page.getByLabel('Search applications').fill('');
    await page.getByRole('button', { name: 'Search' }).click();

    // The seed: + Add New Application, Microsoft 365 from the catalog, Display Label, Save
    // Application, Configure Application.
    cli(['group', 'add', 'Staff']);
    cli(['user', 'add', 'zoe@fabrikam.com']);
    cli(['group', 'add-member', 'Staff', 'zoe@fabrikam.com']);
    await page.getByRole('link', { name: '+ Add New Application' }).click();
    await page.getByLabel('Search').fill('microsoft');
    await page.getByRole('button', { name: 'Search' }).click();
    await shot(page, join(artifacts, `${name}-05-catalog.png`), { fullPage: true });
    await page.getByRole('link', { name: 'Next: Microsoft 365' }).click();
    await page.getByLabel('Domain to federate').fill('fabrikam.com');
    await page.getByLabel('Display Label').fill('Fabrikam Microsoft 365');
    await page.getByLabel('Description').fill('Mail and Office for Fabrikam');
    await page.getByLabel('User Portal Image').setInputFiles({ name: 'tile.png', mimeType: 'image/png', buffer: TILE_PNG });
    await shot(page, join(artifacts, `${name}-06-general.png`), { fullPage: true });
    await page.getByRole('button', { name: 'Save Application' }).click();
    await page.getByRole('status').filter({ hasText: 'saved' }).waitFor();
    await page.getByRole('link', { name: 'Configure Application' }).click();

    // The SSO tab: IdP Entity ID, Login URL, IDP URL; Export Metadata, read by pysaml2.
    await page.getByRole('link', { name: 'SSO', exact: true }).waitFor();
    const body = await page.locator('main').innerText();
    assert.match(body, /IdP Entity ID\s+https?:\/\/\S+\/m365\/fabrikam\.com/);
    assert.match(body, /Login URL\s+\S*fabrikam\.com/);
    assert.match(body, /IDP URL\s+fabrikam\.com/);
    await shot(page, join(artifacts, `${name}-07-sso.png`), { fullPage: true });
    const metadataPath = join(dataDir, 'exported-metadata.xml');
    if (javaScriptEnabled) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export Metadata' }).click()]);
      assert.equal(download.suggestedFilename(), 'tessera-fabrikam.com-metadata.xml');
      await download.saveAs(metadataPath);
      const read = JSON.parse(execFileSync(python, [join(root, 'interop/saml_metadata_pysaml2.py'), metadataPath], { encoding: 'utf8' }));
      assert.match(read.entity_id, /\/m365\/fabrikam\.com/);
      assert.equal(read.signing_certificates, 1);
    }

    // General: the image, re-encoded by Tessera, previewed from its own origin.
    await page.getByRole('link', { name: 'General', exact: true }).click();
    const preview = page.getByRole('img', { name: /current User Portal Image/ });
    await preview.waitFor();
    assert.ok(await preview.evaluate((img) => img.complete && img.naturalWidth > 0), 'the preview loads under the CSP');
    await shot(page, join(artifacts, `${name}-07b-general-image.png`), { fullPage: true });

    // User Groups: authorize Staff.
    await page.getByRole('link', { name: 'User Groups' }).click();
    await page.getByRole('checkbox', { name: 'Staff' }).check();
    await page.getByRole('button', { name: 'save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.ok(await page.getByRole('checkbox', { name: 'Staff' }).isChecked());
    await shot(page, join(artifacts, `${name}-08-user-groups.png`), { fullPage: true });
    const access = JSON.parse(cli(['app', 'access', 'Fabrikam Microsoft 365', 'zoe@fabrikam.com', '--json']));
    assert.equal(access.allowed, true, JSON.stringify(access));

    // Sign-ins: nobody yet.
    await page.getByRole('link', { name: 'Sign-ins' }).click();
    await page.getByText('Nobody has signed in to this application yet.').waitFor();
    await shot(page, join(artifacts, `${name}-08b-sign-ins.png`), { fullPage: true });

    // Regenerate the certificate through its warning.
    const before = JSON.parse(cli(['app', 'show', 'Fabrikam Microsoft 365', '--json'])).signing_certificate;
    await page.getByRole('link', { name: 'SSO', exact: true }).click();
    await page.getByRole('link', { name: 'Regenerate certificate' }).click();
    await page.getByRole('alert').filter({ hasText: 'SSO breaks' }).waitFor();
    await shot(page, join(artifacts, `${name}-09-regenerate-warning.png`), { fullPage: true });
    await page.getByRole('button', { name: 'Regenerate certificate now' }).click();
    await page.getByRole('status').filter({ hasText: 'regenerated' }).waitFor();
    const after = JSON.parse(cli(['app', 'show', 'Fabrikam Microsoft 365', '--json'])).signing_certificate;
    assert.notEqual(after, before);

    // Delete Application: select it, Delete, type the count.
    await page.getByRole('link', { name: 'SSO Applications' }).first().click();
    await page.getByRole('checkbox', { name: 'Select Fabrikam Microsoft 365' }).check();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByLabel('Enter the number of the applications you are deleting').fill('2');
    await page.getByRole('button', { name: 'Delete Application' }).click();
    await page.getByRole('alert').filter({ hasText: 'Type 1' }).waitFor();
    await page.getByLabel('Enter the number of the applications you are deleting').fill('1');
    await shot(page, join(artifacts, `${name}-10-delete.png`), { fullPage: true });
    await page.getByRole('button', { name: 'Delete Application' }).click();
    await page.getByRole('status').filter({ hasText: '1 application was deleted' }).waitFor();
    await shot(page, join(artifacts, `${name}-11-deleted.png`), { fullPage: true });
    const left = JSON.parse(cli(['app', 'list', '--json'])).map((a) => a.label);
    assert.ok(!left.includes('Fabrikam Microsoft 365'), left.join(', '));

    // Branding: an unreadable accent refused (what was typed kept), then the brand saved with a
    // logo, and the users' sign-in page wearing it.
    await page.getByRole('link', { name: 'Branding' }).click();
    await page.getByLabel('Organization name').fill('Contoso');
    await page.getByLabel('Accent colour').fill('#ffee00');
    await page.getByRole('button', { name: 'Save branding' }).click();
    await page.getByRole('alert').filter({ hasText: 'too light' }).waitFor();
    assert.equal(await page.getByLabel('Organization name').inputValue(), 'Contoso');
    await shot(page, join(artifacts, `${name}-12-branding-refused.png`), { fullPage: true });
    await page.getByLabel('Accent colour').fill('#0b5394');
    await page.getByLabel('Help link').fill('https://help.contoso.com/');
    await page.getByLabel('Logo').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: TILE_PNG });
    await page.getByRole('button', { name: 'Save branding' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await shot(page, join(artifacts, `${name}-13-branding.png`), { fullPage: true });
    const brand = JSON.parse(cli(['branding', 'show', '--json']));
    assert.deepEqual([brand.organization, brand.accent, brand.logo], ['Contoso', '#0b5394', true]);
    const users = await browser.newContext({ javaScriptEnabled });
    const signIn = await users.newPage();
    await signIn.goto(`${base}/login`);
    assert.equal(await signIn.textContent('h1'), 'Sign in to Contoso');
    assert.equal(await signIn.getAttribute('header.brand img', 'alt'), 'Contoso');
    await users.close();

    await page.getByRole('button', { name: 'Sign out' }).click();
    assert.equal(new URL(page.url()).pathname, '/admin/login');
    await context.close();
    // The CLI sees the same administrator, with a password of their own now.
    const admins = JSON.parse(cli(['admin', 'list', '--json']));
    assert.deepEqual(admins.map((a) => [a.username, a.must_change_password]), [['admin', false]]);
    // Every change above was made as this administrator.
    const audit = JSON.parse(cli(['audit', 'list', '--json']));
    const byAdmin = new Set(audit.filter((e) => e.actor.startsWith('admin:')).map((e) => e.action));
    for (const action of ['admin.signin', 'admin.password_set', 'app.create', 'app.grant', 'app.cert_rotate', 'app.delete']) {
      assert.ok(byAdmin.has(action), `${action} by the administrator: ${[...byAdmin].join(', ')}`);
    }
  });
}
