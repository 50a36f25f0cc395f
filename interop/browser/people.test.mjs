// The people who sign in, in Chromium: every user-facing page in English and in German, with a
// custom brand (its name, logo, accent and help link), screenshots of each in
// target/browser-artifacts/people/{en,de}/. The sign-in page names the application; the
// account page's actions take effect (a renamed authenticator, sign out everywhere ending the
// other browser's session); the language switch works without script.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

import { artifacts, base32Decode, launchChromium, runCli, shot, startServer, totp } from './harness.mjs';

const password = 'correct horse battery';
const step = () => Math.floor(Date.now() / 1000 / 30);
const servers = [];
let browser;
after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
});

// A logo: a PNG drawn here (a wide bar in the accent colour with a white square), so that the
// screenshots show where it goes.
function logoPng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = [0];
    for (let x = 0; x < width; x++) {
      const inSquare = x > height * 0.25 && x < height * 0.75 && y > height * 0.25 && y < height * 0.75;
      row.push(...(inSquare ? [255, 255, 255] : [0x7a, 0x1f, 0x5c]));
    }
    rows.push(Buffer.from(row));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const words = {
  en: { signIn: 'Sign in to Contoso', continueTo: 'to continue to Wiki', incorrect: /incorrect/, portal: 'Your applications',
    account: 'Your account', denied: 'You cannot open this application', renamed: 'has been renamed',
    signedOut: 'You are signed out', codes: 'You have 10 recovery codes left.', month: /\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC/ },
  de: { signIn: 'Bei Contoso anmelden', continueTo: 'um mit Wiki fortzufahren', incorrect: /falsch/, portal: 'Ihre Anwendungen',
    account: 'Ihr Konto', denied: 'Sie können diese Anwendung nicht öffnen', renamed: 'wurde umbenannt',
    signedOut: 'Sie sind abgemeldet', codes: 'Sie haben noch 10 Wiederherstellungscodes.', month: /\d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4}, \d\d:\d\d UTC/ },
};

test('every user page in English and German, with a custom brand', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-people-'));
  const cli = (args, input) => runCli(dataDir, args, input);
  for (const user of ['alice@contoso.com', 'bernd@contoso.com']) {
    cli(['user', 'add', user, '--first-name', user === 'alice@contoso.com' ? 'Alice' : 'Bernd', '--password-stdin'], `${password}\n`);
  }
  cli(['group', 'add', 'Staff']);
  cli(['group', 'add-member', 'Staff', 'alice@contoso.com']);
  cli(['group', 'add-member', 'Staff', 'bernd@contoso.com']);
  cli(['app', 'add', 'bookmark', '--label', 'Wiki', '--url', 'https://wiki.contoso.com/', '--description', 'Team wiki']);
  cli(['app', 'add', 'bookmark', '--label', 'Payroll', '--url', 'https://payroll.contoso.com/']);
  cli(['app', 'grant', 'Wiki', 'Staff']);
  const logo = join(dataDir, 'logo.png');
  writeFileSync(logo, logoPng(480, 120));
  cli(['branding', 'set', '--organization', 'Contoso', '--accent', '#7a1f5c', '--help-url', 'https://help.contoso.com/', '--logo', logo]);
  const apps = JSON.parse(cli(['app', 'list', '--json']));
  const wiki = apps.find((a) => a.label === 'Wiki').id;
  const payroll = apps.find((a) => a.label === 'Payroll').id;
  const started = await startServer(dataDir, []);
  servers.push(started.server);
  const base = started.base;
  browser ??= await launchChromium();

  for (const [language, locale, user] of [['en', 'en-US', 'alice@contoso.com'], ['de', 'de-DE', 'bernd@contoso.com']]) {
    const said = words[language];
    const shots = join(artifacts, 'people', language);
    mkdirSync(shots, { recursive: true });
    const context = await browser.newContext({ locale });
    // The application's own site is not on this machine: the browser's request for it is
    // answered here.
    await context.route('https://wiki.contoso.com/**', (route) => route.fulfill({ body: 'the wiki', contentType: 'text/plain' }));
    const page = await context.newPage();

    // Opening an application while signed out: the sign-in page names the organization and it.
    await page.goto(`${base}/launch/${wiki}`);
    assert.match(page.url(), /\/login\?continue=/);
    assert.equal(await page.getAttribute('html', 'lang'), language);
    assert.equal(await page.textContent('h1'), said.signIn);
    assert.equal((await page.textContent('.continue-to')).trim(), said.continueTo);
    assert.equal(await page.getAttribute('header.brand img', 'alt'), 'Contoso');
    assert.equal(await page.getAttribute('footer.brand a.help', 'href'), 'https://help.contoso.com/');
    // The accent reaches the button through the brand's stylesheet (no inline style).
    const accent = await page.$eval('form[action="/login"] button', (b) => getComputedStyle(b).backgroundColor);
    assert.equal(accent, 'rgb(122, 31, 92)');
    await shot(page, join(shots, '01-sign-in.png'));
    await page.fill('#username', user);
    await page.fill('#password', 'not the password');
    await page.click('form[action="/login"] button');
    assert.match(await page.textContent('.error'), said.incorrect);
    await shot(page, join(shots, '02-sign-in-refused.png'));
    await page.fill('#username', user);
    await page.fill('#password', password);
    await page.click('form[action="/login"] button');
    assert.match(page.url(), /\/notice/);
    assert.match(await page.textContent('main p'), /Contoso/);
    await shot(page, join(shots, '03-notice.png'));
    await page.click('form[action="/notice"] button');
    // The parked launch continues to the application once signed in (a page of ours opens it:
    // the sign-in form's CSP would stop a redirect to another site).
    await page.waitForURL('https://wiki.contoso.com/');

    await page.goto(`${base}/`);
    assert.equal(await page.textContent('h1'), said.portal);
    await shot(page, join(shots, '04-portal.png'), { fullPage: true });
    await page.goto(`${base}/launch/${payroll}`);
    assert.equal(await page.textContent('h1'), said.denied);
    await shot(page, join(shots, '05-denied.png'));

    await page.goto(`${base}/mfa/totp`);
    const secret = base32Decode(await page.textContent('#secret'));
    assert.match(await page.getAttribute('#otpauth', 'href'), /^otpauth:\/\/totp\/Contoso:/);
    await shot(page, join(shots, '06-enrol.png'), { fullPage: true });
    const enrolStep = step();
    await page.fill('#code', totp(secret, enrolStep));
    await page.click('form[action="/mfa/totp"] button');
    assert.equal((await page.$$('.codes code')).length, 10);
    await shot(page, join(shots, '07-recovery-codes.png'), { fullPage: true });

    await page.goto(`${base}/account`);
    assert.equal(await page.textContent('h1'), said.account);
    assert.equal((await page.textContent('#codes-left')).trim(), said.codes);
    await page.fill('#factor-new-name', 'Work phone');
    await page.click('form[action="/account/mfa/rename"] button');
    assert.match(await page.textContent('.notice'), new RegExp(said.renamed));
    assert.equal(await page.textContent('#factor-name'), 'Work phone');
    const when = await page.$$eval('#sign-ins tbody td:first-child', (cells) => cells.map((c) => c.textContent));
    assert.ok(when.length >= 2 && when.every((w) => said.month.test(w)), when.join(' | '));
    await shot(page, join(shots, '08-account.png'), { fullPage: true });
    // Every control of the page has an accessible name.
    const unnamed = await page.$$eval('input:not([type=hidden]), button, a', (nodes) => nodes
      .filter((n) => !(n.labels?.length || n.getAttribute('aria-label') || n.textContent.trim() || n.getAttribute('alt')))
      .map((n) => n.outerHTML));
    assert.deepEqual(unnamed, []);

    // A second browser of the same user, with the code: then "sign out everywhere" ends it.
    const other = await browser.newContext({ locale });
    const otherPage = await other.newPage();
    await otherPage.goto(`${base}/login`);
    await otherPage.fill('#username', user);
    await otherPage.fill('#password', password);
    await otherPage.click('form[action="/login"] button');
    assert.match(otherPage.url(), /\/login\/mfa/);
    await shot(otherPage, join(shots, '09-second-factor.png'));
    await otherPage.fill('#code', totp(secret, enrolStep + 1));
    await otherPage.click('form[action="/login/mfa"] button');
    assert.equal(new URL(otherPage.url()).pathname, '/');
    await page.click('form[action="/account/sign-out-everywhere"] button');
    assert.equal(await page.textContent('h1'), said.signedOut);
    await shot(page, join(shots, '10-signed-out.png'));
    await otherPage.goto(`${base}/account`);
    assert.match(otherPage.url(), /\/login$/, 'the other browser is signed out too');
    await other.close();
    await context.close();
  }

  // The switch, without script: German to English and back, on the same page.
  const context = await browser.newContext({ locale: 'de-DE', javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  assert.equal(await page.getAttribute('html', 'lang'), 'de');
  await page.click('nav.languages a[lang="en"]');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.textContent('h1'), 'Sign in to Contoso');
  await page.click('nav.languages a[lang="de"]');
  assert.equal(await page.textContent('h1'), 'Bei Contoso anmelden');
  await context.close();
});
