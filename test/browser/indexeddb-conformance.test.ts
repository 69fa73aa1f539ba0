/**
 * The IndexedDB backend in real Chromium: the shared device-store and
 * protocol-store conformance suites run unchanged in the page (their
 * `node:test` and `node:assert/strict` imports are redirected to small
 * in-page shims at bundle time), plus the at-rest encryption checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import type { Browser } from 'playwright-core';
import { bundle, launchChromium, servePage, watchProblems } from './fixtures/chromium.js';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Swaps Node-only imports of the shared suites for their in-page stand-ins. */
const shims: Plugin = {
  name: 'node-shims',
  setup(build) {
    const to = (file: string) => () => ({ path: fixture(file) });
    build.onResolve({ filter: /^node:test$/ }, to('node-test-shim.ts'));
    build.onResolve({ filter: /^node:assert\/strict$/ }, to('assert-shim.ts'));
    build.onResolve({ filter: /\/helpers\/clients\.js$/ }, to('clients-shim.ts'));
    build.onResolve({ filter: /\/crypto\/node\.js$/ }, to('node-crypto-shim.ts'));
  },
};

describe('IndexedDB backend in Chromium', { timeout: 180_000 }, () => {
  let browser: Browser | undefined;
  let site: { url: string; close(): Promise<void> } | undefined;

  before(async () => {
    site = await servePage(await bundle(fixture('indexeddb-entry.ts'), [shims]));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await site?.close();
  });

  it('passes the device-store and protocol-store conformance suites', async () => {
    assert.ok(browser && site, 'setup failed');
    const page = await browser.newPage();
    const problems = watchProblems(page);
    await page.goto(site.url);
    await page.waitForFunction(() => window.__idbResult !== undefined, null, { timeout: 150_000 });
    const report = await page.evaluate(() => window.__idbResult);
    await page.close();
    assert.ok(report, 'the page reported nothing');
    assert.equal(report.error, undefined);
    assert.deepEqual(problems, []);
    const failures = report.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error}`);
    assert.deepEqual(failures, []);
    const count = (prefix: string): number =>
      report.results.filter((r) => r.name.startsWith(prefix)).length;
    // Each suite ran in full on each backend (numbers of cases, not copied logic).
    assert.ok(count('device store conformance: indexeddb >') >= 8);
    assert.equal(
      count('device store conformance: indexeddb, encrypted at rest >'),
      count('device store conformance: indexeddb >'),
    );
    assert.ok(count('protocol store conformance: device store (indexeddb) >') >= 6);
    assert.equal(
      count('protocol store conformance: device store (indexeddb, encrypted) >'),
      count('protocol store conformance: device store (indexeddb) >'),
    );
    assert.equal(count('indexeddb backend >'), 3);
    assert.equal(count('encryption at rest >'), 3);
  });
});
