/**
 * The browser app across a server restart, in real Chromium: with a
 * conversation open, the server process's listener goes away (1001) and
 * stays down; the header says the connection was lost and is being retried;
 * the server comes back on the same port and data directory; the page
 * reconnects by itself (no reload), and a message sent after the restart
 * appears exactly once — as does the one from before — and the page can
 * send again. A screenshot of each step goes to test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { tempDir, ensureWebBuilt } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';
import { connectNodeParty, registerNodeParty } from './fixtures/node-party.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `web-reconnect-${name}.png`) });
}

describe('web app reconnecting in Chromium', { timeout: 240_000 }, () => {
  const dir = tempDir('quintet-web-reconnect-');
  const options = {
    dataDir: join(dir.path, 'data'),
    staticDir: join(ROOT, 'web', 'dist'),
    logLevel: 'silent',
  } as const;
  let server: RunningServer | undefined;
  let browser: Browser | undefined;

  before(async () => {
    ensureWebBuilt();
    server = await startServer({ ...options, port: 0 });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    dir.cleanup();
  });

  it('reconnects after a server restart and shows a message sent after it exactly once', async () => {
    assert.ok(server && browser, 'setup failed');
    const bobStore = await registerNodeParty(server, 'bob');

    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByLabel('Account name').fill('alice');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await page.getByTestId('register').click();
    const status = page.getByTestId('status');
    await status.getByText('Online').waitFor({ timeout: 30_000 });

    let bob = await connectNodeParty(server, bobStore);
    await bob.client.sendText('alice', 'before the restart');
    await bob.client.close();
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    const messages = page.getByTestId('message');
    await messages.getByText('before the restart').waitFor({ timeout: 30_000 });

    // The server goes away and stays away: the page says so and keeps trying.
    const port = server.port;
    await server.close();
    server = undefined;
    await status.getByText('Reconnecting…').waitFor({ timeout: 30_000 });
    await shot(page, '01-reconnecting');

    // Back on the same port and data: the page reconnects without a reload.
    server = await startServer({ ...options, port });
    await status.getByText('Online').waitFor({ timeout: 60_000 });
    bob = await connectNodeParty(server, bobStore);
    await bob.client.sendText('alice', 'after the restart');
    await messages.getByText('after the restart').waitFor({ timeout: 30_000 });
    await shot(page, '02-reconnected');

    // And it can send on the new connection.
    await page.getByTestId('compose').fill('reply after the restart');
    await page.getByTestId('send').click();
    const reply = await bob.events.next('message', 30_000);
    assert.equal(reply.message.text, 'reply after the restart');
    await bob.client.close();

    assert.equal(await messages.getByText('before the restart', { exact: true }).count(), 1);
    assert.equal(await messages.getByText('after the restart', { exact: true }).count(), 1);
    assert.deepEqual(
      problems.filter((p) => !p.includes('WebSocket') && !p.includes('ERR_CONNECTION_REFUSED')),
      [],
    );
    await context.close();
  });
});
