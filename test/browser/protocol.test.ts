/**
 * The browser check: bundles test/browser/fixtures/protocol-entry.ts for the
 * browser with esbuild (which also proves the protocol core and the WebCrypto
 * provider need no Node built-in), serves it from 127.0.0.1 (a secure
 * context, so WebCrypto is available) and runs it in Debian's Chromium via
 * playwright-core. The page reports every check it passed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import type { BrowserResult } from './fixtures/protocol-entry.js';

const CHROMIUM = '/usr/bin/chromium';
const ENTRY = fileURLToPath(new URL('./fixtures/protocol-entry.ts', import.meta.url));

async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error('esbuild produced no output');
  return file.text;
}

function serve(script: string): Promise<Server> {
  const page =
    '<!doctype html><meta charset="utf-8"><title>quintet</title><link rel="icon" href="data:,"><script type="module" src="/entry.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/entry.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(script);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('protocol in Chromium', { timeout: 180_000 }, () => {
  let server: Server | undefined;
  let browser: Browser | undefined;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      assert.fail(
        `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`,
      );
    }
    server = await serve(await bundle());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) =>
      server === undefined ? resolve() : server.close(() => resolve()),
    );
  });

  it('runs known answers, XEdDSA, safety numbers, an X3DH + ratchet session and a PQXDH + triple-ratchet session', async () => {
    assert.ok(browser && server, 'setup failed');
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    const { port } = server.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 120_000 });
    const result = await page.evaluate(() => window.__result);
    await page.close();
    assert.ok(result, 'the page reported nothing');
    const report: BrowserResult = result;
    assert.deepEqual(problems, []);
    assert.equal(report.ok, true, report.error);
    // Chromium ships both curves in WebCrypto: the native path must be the one tested.
    assert.deepEqual(report.native, { x25519: true, ed25519: true });
    for (const name of [
      'browser: RFC 7748 §6.1',
      'browser-noble: RFC 8032 test 1 signature',
      'XEdDSA raw key verifies',
      'safety numbers match',
      'bob decrypts the prekey message',
      'turn 3: bob decrypts',
      'out of order: earlier message second',
      'replay refused as duplicate-message',
      'PQXDH: bob decrypts the v4 prekey message',
      'triple ratchet: SPQR epoch 1 completed',
      'session API: a v4 session from a bundle with a KEM prekey',
      'session API: v4 ping-pong, KEM prekey used',
    ]) {
      assert.ok(report.passed.includes(name), `missing check: ${name}`);
    }
  });
});
