// Shared by the browser tests: a free port, the tessera CLI, a running `tessera serve`, Chromium
// launched with the flags these machines need, and screenshots that retry.

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

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

export async function startServer(dataDir, databaseArgs) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
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
