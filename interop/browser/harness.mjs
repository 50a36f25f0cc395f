// Shared by the browser tests: a free port, the tessera CLI, a running `tessera serve`, Chromium
// launched with the flags these machines need, screenshots that retry, and passport-wsfed-saml2
// as a WS-Federation relying party's verdict on a token.

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const { Strategy } = createRequire(import.meta.url)('passport-wsfed-saml2');

export const root = resolve(import.meta.dirname, '../..');
export const tessera = process.env.TESSERA_BIN ?? join(root, 'target/debug/tessera');
export const artifacts = join(root, 'target/browser-artifacts');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function freePort() {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

// Headless Chromium now and then answers a capture with "Unable to capture screenshot" while
// it is still painting; the page is fine, so the capture is tried again.
export async function shot(page, path, options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.screenshot({ path, ...options });
      return;
    } catch (error) {
      if (attempt >= 4) throw error;
      await page.waitForTimeout(250 * attempt);
    }
  }
}

export function runCli(dataDir, args, input) {
  return execFileSync(tessera, ['--data-dir', dataDir, ...args], { input, encoding: 'utf8' });
}

// `host`: the name in the public URL (a WebAuthn relying party cannot be an IP address, and
// browsers allow it over plain http on localhost only); the server listens on 127.0.0.1.
export async function startServer(dataDir, databaseArgs, host = '127.0.0.1') {
  const port = await freePort();
  const base = `http://${host}:${port}`;
  const args = ['--data-dir', dataDir, ...databaseArgs, 'serve', '--listen', `127.0.0.1:${port}`, '--public-url', base];
  const server = spawn(tessera, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (chunk) => { stderr += chunk; });
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) return { server, base, stderr: () => stderr };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  server.kill('SIGTERM');
  throw new Error(`tessera did not start: ${stderr}`);
}

export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[^A-Z2-7]/g, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 6238, as an authenticator app computes it: an independent implementation of ours.
export function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 1_000_000).padStart(6, '0');
}

// A fresh PostgreSQL database on the machine's server, or null where there is none (under
// CI=true that is a failure).
export function throwawayPostgres() {
  const admin = process.env.TESSERA_TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
  const name = `tessera_browser_${process.pid}_${Date.now()}`;
  try {
    execFileSync('psql', [admin, '-q', '-c', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`PostgreSQL is required under CI=true: ${error}`);
    return null;
  }
  return { url: admin.replace(/\/[^/]*$/, `/${name}`), drop: () => execFileSync('psql', [admin, '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]) };
}

/// passport-wsfed-saml2's verdict on a posted wresult: the profile, or the error.
export function passportAccepts(fields, certificate, options = {}) {
  const strategy = new Strategy(
    { realm: 'urn:federation:MicrosoftOnline', cert: certificate, identityProviderUrl: 'https://idp.invalid/wsfed', checkRecipient: false, ...options },
    (profile, done) => done(null, profile),
  );
  return new Promise((resolve, reject) => {
    strategy.success = (profile) => resolve(profile);
    strategy.fail = (info) => reject(new Error(`failed: ${JSON.stringify(info)}`));
    strategy.error = (error) => reject(error);
    strategy.redirect = (url) => reject(new Error(`redirected to ${url}`));
    // The shape of an Express request, which the strategy reads.
    const request = {
      method: 'POST', body: fields, query: {}, headers: { host: 'rp.contoso.test' }, protocol: 'https',
      originalUrl: '/wsfed/callback', get: (name) => request.headers[name.toLowerCase()],
    };
    strategy.authenticate(request, {});
  });
}
