/**
 * The browser app in real Chromium when a contact's account key changes:
 * a Node "bob" reinstalls (the server runs with re-registration allowed);
 * the chat shows the warning, sending fails and nothing is queued for the
 * new key, and the "Accept new key" button accepts it — after which the
 * message goes through to the new install. Screenshots go to
 * test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { ensureWebBuilt } from '../e2e/harness.js';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';
import { startNodeParty } from './fixtures/node-party.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('web app: a changed account key in Chromium', { timeout: 240_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;

  before(async () => {
    ensureWebBuilt();
    server = await startServer({
      memory: true,
      port: 0,
      staticDir: join(ROOT, 'web', 'dist'),
      logLevel: 'silent',
      allowReregistration: true,
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('warns in the chat, sends nothing, and accepts the new key with the button', async () => {
    assert.ok(server && browser, 'setup failed');
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByLabel('Account name').fill('alice');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    const oldBob = await startNodeParty(server, 'bob');
    await oldBob.client.sendText('alice', 'hello from the old install');
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    await page.getByTestId('message').getByText('hello from the old install').waitFor();
    await page.getByTestId('compose').fill('hi old bob');
    await page.getByTestId('send').click();
    assert.equal((await oldBob.events.next('message', 15_000)).message.text, 'hi old bob');
    await oldBob.client.close();

    // bob reinstalls: the server pushes a device-list change to alice.
    const newBob = await startNodeParty(server, 'bob');
    await page.getByTestId('compose').fill('hi new bob');
    await page.getByTestId('send').click();
    const warning = page.getByTestId('key-warning');
    await warning.waitFor({ timeout: 15_000 });
    assert.match(await warning.innerText(), /bob's account key changed/);
    await page.screenshot({ path: join(ARTIFACTS, 'web-trust-01-warning.png') });
    await page.getByText("Not sent: bob's account key changed").waitFor();
    assert.equal(await server.store.queue.count('bob', 1), 0, 'nothing for the new key');
    assert.equal(
      await page.getByTestId('compose').inputValue(),
      'hi new bob',
      'the unsent text stays in the box',
    );

    // The user reads and closes the notices, then accepts in the chat.
    const closers = page.locator('.notice-close');
    while ((await closers.count()) > 0) await closers.first().click();
    await page.getByTestId('accept-key').click();
    await page.getByTestId('safety-number').waitFor({ timeout: 15_000 });
    const digits = (await page.getByTestId('safety-number').innerText()).replace(/\s+/g, '');
    assert.equal(digits, (await newBob.client.safetyNumber('alice')).displayable);
    await page.screenshot({ path: join(ARTIFACTS, 'web-trust-02-accepted.png') });

    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    await page.getByTestId('key-warning').waitFor({ state: 'detached' });
    await page.getByTestId('compose').fill('hi new bob');
    await page.getByTestId('send').click();
    assert.equal((await newBob.events.next('message', 15_000)).message.text, 'hi new bob');

    await newBob.client.close();
    assert.deepEqual(
      problems.filter((p) => !/untrusted-identity|account key/.test(p)),
      [],
    );
    await context.close();
  });
});
