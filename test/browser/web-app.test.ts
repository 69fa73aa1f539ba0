/**
 * The browser app end to end in real Chromium: builds web/dist, starts the
 * real server serving it, registers an account in the page, and talks to a
 * Node `QuintetClient` (Node transport, memory store): receive, reply,
 * receipts and ticks, safety numbers, reload, the second-tab lock, and
 * leaving the companion-linking screen (linking itself: web-companion.test.ts). A screenshot of each step goes to
 * test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { ensureWebBuilt } from '../e2e/harness.js';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';
import { startNodeParty, type NodeParty } from './fixtures/node-party.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `web-app-${name}.png`) });
}

describe('web app in Chromium', { timeout: 240_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  let bob: NodeParty | undefined;

  before(async () => {
    ensureWebBuilt();
    server = await startServer({
      memory: true,
      port: 0,
      staticDir: join(ROOT, 'web', 'dist'),
      logLevel: 'silent',
    });
    browser = await launchChromium();
    bob = await startNodeParty(server, 'bob');
  });

  after(async () => {
    await bob?.client.close();
    await browser?.close();
    await server?.close();
  });

  it('registers, chats with a Node client, survives a reload, and locks other tabs', async () => {
    assert.ok(server && browser && bob, 'setup failed');
    const context: BrowserContext = await browser.newContext({
      viewport: { width: 1100, height: 700 },
    });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);

    // Register this browser as alice's primary device.
    await page.getByLabel('Account name').fill('alice');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await shot(page, '01-register');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('self').textContent(), 'alice');
    const pinHash = await page.evaluate(() => document.body.innerText.includes('pbkdf2'));
    assert.equal(pinHash, false);
    await shot(page, '02-registered');

    // Bob writes; the chat shows up with one unread message.
    await bob.client.sendText('alice', 'Hello from Node');
    const row = page.getByTestId('chat').filter({ hasText: 'bob' });
    await row.getByTestId('unread').getByText('1').waitFor();
    await shot(page, '03-unread');

    // Opening it shows the message and sends delivery + read receipts.
    await row.click();
    await page.getByTestId('message').getByText('Hello from Node').waitFor();
    await row.getByTestId('unread').waitFor({ state: 'detached' });
    const read = await bob.events
      .next('receipt', 15_000)
      .then(async (first) => (first.kind === 'read' ? first : bob?.events.next('receipt', 15_000)));
    assert.equal(read?.kind, 'read');
    assert.equal(read?.from, 'alice');
    await shot(page, '04-conversation');

    // Alice replies; bob receives it, and his read receipt turns the ticks blue.
    await page.getByTestId('compose').fill('Hi bob, from the browser');
    await page.getByTestId('send').click();
    const reply = await bob.events.next('message', 15_000);
    assert.equal(reply.message.text, 'Hi bob, from the browser');
    assert.equal(reply.message.sender, 'alice');
    const ticks = page
      .getByTestId('message')
      .filter({ hasText: 'from the browser' })
      .getByTestId('ticks');
    await page.waitForFunction(
      () =>
        document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') ===
        'delivered',
    );
    await bob.client.markRead('alice', [reply.message.id]);
    await page.waitForFunction(
      () =>
        document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') === 'read',
    );
    assert.equal(await ticks.getAttribute('data-state'), 'read');
    await shot(page, '05-reply-read');

    // The safety number matches the one bob computes.
    await page.getByTestId('safety').click();
    const digits = (await page.getByTestId('safety-number').innerText()).replace(/\s+/g, '');
    assert.equal(digits, (await bob.client.safetyNumber('alice')).displayable);
    await shot(page, '06-safety-number');

    // At rest, IndexedDB holds ciphertext only: no message text in any value.
    const leaks = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('quintet-device');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(new Error(String(req.error)));
      });
      const values = await new Promise<unknown[]>((resolve, reject) => {
        const req = db.transaction('kv').objectStore('kv').getAll();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(new Error(String(req.error)));
      });
      db.close();
      const decoder = new TextDecoder('latin1');
      return {
        count: values.length,
        leaks: values.filter(
          (v) =>
            v instanceof Uint8Array && /Hello from Node|from the browser/.test(decoder.decode(v)),
        ).length,
      };
    });
    assert.ok(leaks.count > 100, 'the profile should hold keys and messages');
    assert.equal(leaks.leaks, 0);

    // A reload restores the session and the conversation from IndexedDB.
    await page.reload();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    await page.getByTestId('message').getByText('Hello from Node').waitFor();
    await page.getByTestId('message').getByText('Hi bob, from the browser').waitFor();
    await shot(page, '07-after-reload');

    // A second tab of the same profile stays off the store…
    const second = await context.newPage();
    const secondProblems = watchProblems(second);
    await second.goto(server.url);
    await second.getByTestId('other-tab').waitFor();
    await shot(second, '08-second-tab');
    // …and takes over once the first one closes.
    await page.close();
    await second.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
    await second.getByTestId('chat').filter({ hasText: 'bob' }).waitFor();
    await shot(second, '09-second-tab-took-over');

    assert.deepEqual(problems, []);
    assert.deepEqual(secondProblems, []);
    await context.close();
  });

  it('starts a chat by name, refuses unknown names, and can leave the linking screen', async () => {
    assert.ok(server && browser && bob, 'setup failed');
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    // Opening the linking screen and going back cancels the linking session.
    await page.getByTestId('link-companion').click();
    await page.getByTestId('qr').waitFor();
    await shot(page, '10-link-companion');
    await page.getByRole('button', { name: 'Back' }).click();

    await page.getByLabel('Account name').fill('carol');
    await page.getByLabel('PIN', { exact: true }).fill('1357');
    await page.getByLabel('Repeat PIN').fill('1357');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    await page.getByTestId('new-chat').click();
    await page.getByTestId('new-chat-name').fill('nobody');
    await page.getByTestId('new-chat-start').click();
    await page.getByRole('alert').getByText('There is no account with that name.').waitFor();
    await shot(page, '11-unknown-account');

    await page.getByTestId('new-chat-name').fill('bob');
    await page.getByTestId('new-chat-start').click();
    await page.getByTestId('compose').fill('Hello bob, carol here');
    await page.getByTestId('send').click();
    const got = await bob.events.next('message', 15_000);
    assert.equal(got.message.sender, 'carol');
    assert.equal(got.message.text, 'Hello bob, carol here');
    await page.getByTestId('message').getByText('Hello bob, carol here').waitFor();
    await shot(page, '12-new-chat');
    assert.deepEqual(problems, []);
    await context.close();
  });
});
