/**
 * examples/web-page in real Chromium: the page and the SDK's browser bundle
 * (scripts/build-sdk-browser.mjs, built into a temporary folder) are served
 * by the real server; the page registers an account, receives a text from a
 * Node SDK device and sends one back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { parseAccountName, type MessageEvent, type QuintetDevice } from '../../src/sdk/index.js';
import { nextEvent, registeredDevice } from '../sdk/helpers.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PAGE = join(ROOT, 'examples', 'web-page');

describe('examples/web-page in Chromium', { timeout: 240_000 }, () => {
  let site: string;
  let server: RunningServer;
  let browser: Browser;
  let nodey: QuintetDevice;

  before(async () => {
    site = mkdtempSync(join(tmpdir(), 'quintet-web-example-'));
    for (const file of ['index.html', 'main.js']) copyFileSync(join(PAGE, file), join(site, file));
    execFileSync(process.execPath, [
      join(ROOT, 'scripts', 'build-sdk-browser.mjs'),
      join(site, 'quintet-client.js'),
    ]);
    server = await startServer({
      memory: true,
      port: 0,
      staticDir: site,
      logLevel: 'silent',
    });
    browser = await launchChromium();
    nodey = await registeredDevice('nodey', server.url);
  });
  after(async () => {
    await nodey.close();
    await browser.close();
    await server.close();
    rmSync(site, { recursive: true, force: true });
  });

  it('registers in the page, receives from Node and sends back', async () => {
    const page = await browser.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByText('not registered').waitFor({ timeout: 30_000 });
    await page.getByLabel('Account name').fill('webby');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('online as webby').waitFor({ timeout: 60_000 });

    await nodey.sendText(parseAccountName('webby'), 'hello page');
    await page.getByText('nodey: hello page').waitFor({ timeout: 30_000 });

    const events = nodey.events[Symbol.asyncIterator]();
    await page.getByLabel('To').fill('nodey');
    await page.getByLabel('Text').fill('hello node');
    await page.getByRole('button', { name: 'Send' }).click();
    const got = await nextEvent(
      events,
      (event): event is MessageEvent => event.type === 'message' && !event.message.outgoing,
      30_000,
    );
    assert.equal(got.message.sender, 'webby');
    assert.equal(got.message.text, 'hello node');
    await page.getByText('me → nodey: hello node').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'example-web-page.png') });
    assert.deepEqual(problems, []);
  });
});
