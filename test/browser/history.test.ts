/**
 * History sync into a browser tab: a CLI primary holding chats (real
 * messages plus 1,000 seeded into its profile) approves a fresh tab with
 * `devices approve --history all`; the tab shows the history progress bar,
 * then the filled chat list, and opens a chat with its old messages. The
 * screenshot goes to test-artifacts/browser/ (not a tracked file).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { openProfileStore } from '../../src/cli/profile.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ensureBuilt, ensureWebBuilt, runCli, tempDir } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PIN = '2468';

describe('history sync into a browser tab', { timeout: 300_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const dirs = [tempDir('quintet-webh-alice-'), tempDir('quintet-webh-bob-')];
  const [aliceDir, bobDir] = dirs.map((dir) => dir.path);

  before(async () => {
    ensureBuilt();
    ensureWebBuilt();
    server = await startServer({
      memory: true,
      port: 0,
      staticDir: join(ROOT, 'web', 'dist'),
      logLevel: 'silent',
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    for (const dir of dirs) dir.cleanup();
  });

  async function cli(dir: string | undefined, ...args: string[]): Promise<string> {
    assert.ok(server && dir !== undefined, 'setup failed');
    const result = await runCli([...args, '--profile', dir, '--server', server.url], {}, 120_000);
    assert.equal(result.code, 0, `quintet ${args[0] ?? ''} failed:\n${result.stderr}`);
    return result.stdout;
  }

  it('shows the progress bar, then the chats with their history', async () => {
    assert.ok(server && browser && aliceDir !== undefined, 'setup failed');
    await cli(aliceDir, 'register', 'alice', '--pin', PIN);
    await cli(bobDir, 'register', 'bob', '--pin', '1357');
    await cli(bobDir, 'send', 'alice', 'an old message from bob');
    await cli(aliceDir, 'receive');
    await cli(aliceDir, 'send', 'bob', 'an old reply from alice');
    const store = openProfileStore(aliceDir);
    try {
      const now = Date.now();
      await store.transaction(async (tx) => {
        for (let i = 0; i < 1000; i++) {
          const id = new Uint8Array(16);
          new DataView(id.buffer).setUint32(12, i + 1);
          await tx.messages.put({
            id,
            chat: 'carol',
            sender: i % 2 === 0 ? 'alice' : 'carol',
            senderDevice: 1,
            text: `carol history ${i}`,
            sentAt: now - 5 * 86_400_000 + i * 1000,
            receivedAt: i % 2 === 0 ? 0 : now - 5 * 86_400_000 + i * 1000 + 5,
            outgoing: i % 2 === 0,
            receipts: {},
          });
        }
      });
    } finally {
      await store.close();
    }

    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByTestId('link-companion').click();
    await page.waitForFunction(
      () =>
        (document.querySelector<HTMLInputElement>('[data-testid="link-code"]')?.value.length ?? 0) >
        0,
    );
    const code = await page.getByTestId('link-code').inputValue();
    const approved = await cli(
      aliceDir,
      'devices',
      'approve',
      code,
      '--pin',
      PIN,
      '--history',
      'all',
    );
    assert.match(approved, /approved: device \d+/);

    await page
      .getByTestId('history-progress')
      .getByText(/History synced: 1,002 messages/)
      .waitFor({ timeout: 60_000 });
    await page.getByTestId('chat').filter({ hasText: 'carol' }).click();
    await page.getByTestId('message').getByText('carol history 999', { exact: true }).waitFor();
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    await page.getByTestId('message').getByText('an old message from bob').waitFor();
    await page.getByTestId('message').getByText('an old reply from alice').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'history-sync-chats.png') });
    assert.deepEqual(problems, []);
    await context.close();
  });
});
