/**
 * Post-quantum sessions (the default) end to end in real Chromium: two CLI
 * users (the real `quintet` processes) and the browser companion, linked
 * to alice's CLI primary from its link code, exchange messages — bob and
 * the page both ways, the primary getting the page's sync copy — and every
 * session the test can see is version 4: read from the CLI profiles'
 * stores (with the page's device as well as with each other), and on the
 * in-process server the page's published KEM prekeys, one-time ones of
 * which the sessions with it used up. The devices pane's post-quantum
 * toggle is on by default, and turning it off is kept across a reload
 * (stored with the device's other settings). Screenshots go to
 * test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { openProfileStore } from '../../src/cli/profile.js';
import { KEM_PRE_KEY_BATCH } from '../../src/client/core/kem-prekeys.js';
import { protocolAddress } from '../../src/protocol/address.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ensureBuilt, ensureWebBuilt, messagesOf, runCli, tempDir } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ALICE_PIN = '2468';

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `web-post-quantum-${name}.png`) });
}

/** The session version the CLI profile in `dir` holds with `account` device `deviceId`. */
async function version(dir: string, account: string, deviceId: number): Promise<unknown> {
  const store = openProfileStore(dir);
  try {
    const record = await store.protocol.sessions.loadSession(protocolAddress(account, deviceId));
    return record?.current?.sessionVersion;
  } finally {
    await store.close();
  }
}

describe(
  'post-quantum sessions with the browser companion in Chromium',
  { timeout: 300_000 },
  () => {
    let server: RunningServer | undefined;
    let browser: Browser | undefined;
    const dirs = [tempDir('quintet-web-pq-alice-'), tempDir('quintet-web-pq-bob-')];
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

    /** `quintet <args> --profile <dir>` against the test server; fails the test on a non-zero exit. */
    async function cli(dir: string | undefined, ...args: string[]): Promise<string> {
      assert.ok(server && dir !== undefined, 'setup failed');
      const result = await runCli([...args, '--profile', dir, '--server', server.url]);
      assert.equal(result.code, 0, `quintet ${args[0] ?? ''} failed:\n${result.stderr}`);
      return result.stdout;
    }

    /** Texts of the messages `quintet receive --json` reads for the profile in `dir`. */
    async function received(dir: string | undefined): Promise<unknown[]> {
      return messagesOf(await runCli(['receive', '--json', '--profile', dir ?? ''])).map(
        (m) => m['text'],
      );
    }

    it('two CLI users and the browser companion talk over v4 sessions', async () => {
      assert.ok(
        server && browser && aliceDir !== undefined && bobDir !== undefined,
        'setup failed',
      );
      await cli(aliceDir, 'register', 'alice', '--pin', ALICE_PIN);
      await cli(bobDir, 'register', 'bob', '--pin', '1357');
      await cli(aliceDir, 'send', 'bob', 'cli to cli');
      assert.deepEqual(await received(bobDir), ['cli to cli']);
      await cli(bobDir, 'send', 'alice', 'cli to cli, back');
      assert.deepEqual(await received(aliceDir), ['cli to cli, back']);

      const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(server.url);
      await page.getByTestId('link-companion').click();
      await page.waitForFunction(
        () =>
          (document.querySelector<HTMLInputElement>('[data-testid="link-code"]')?.value.length ??
            0) > 0,
      );
      const code = await page.getByTestId('link-code').inputValue();
      // No history: the page's only outgoing bubble is the one it sends below.
      const approved = await cli(
        aliceDir,
        'devices',
        'approve',
        code,
        '--pin',
        ALICE_PIN,
        '--history',
        'none',
      );
      const deviceId = Number(/approved: device (\d+)/.exec(approved)?.[1]);
      assert.ok(deviceId >= 2, `unexpected approval output: ${approved}`);
      await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
      // The page published its KEM prekeys when it completed the link, and
      // the primary's session with it (made at link time) is v4.
      const kem = server.store.kemPreKeys;
      assert.ok((await kem.getLastResortKemPreKey('alice', deviceId)) !== undefined);
      assert.equal(await version(aliceDir, 'alice', deviceId), 4);

      // bob → the page, and the page → bob through the UI.
      await cli(bobDir, 'send', 'alice', 'Hi alice, over PQXDH');
      const row = page.getByTestId('chat').filter({ hasText: 'bob' });
      await row.getByTestId('unread').getByText('1').waitFor({ timeout: 30_000 });
      await row.click();
      await page.getByTestId('message').getByText('Hi alice, over PQXDH').waitFor();
      await page.getByTestId('compose').fill('Hello bob, from the browser');
      await page.getByTestId('send').click();
      await page.waitForFunction(
        () =>
          document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') === 'sent',
      );
      assert.deepEqual(await received(bobDir), ['Hello bob, from the browser']);
      await page.waitForFunction(
        () =>
          document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') ===
          'delivered',
      );
      await shot(page, '01-chat');
      // The primary gets bob's message and the page's sync copy.
      const primaryGot = await received(aliceDir);
      assert.ok(primaryGot.includes('Hi alice, over PQXDH'), JSON.stringify(primaryGot));
      assert.ok(primaryGot.includes('Hello bob, from the browser'), JSON.stringify(primaryGot));

      // Every session the CLI stores hold is v4: with the page's device, and
      // between the two CLI users.
      assert.equal(await version(bobDir, 'alice', deviceId), 4);
      assert.equal(await version(bobDir, 'alice', 1), 4);
      assert.equal(await version(aliceDir, 'bob', 1), 4);
      assert.equal(await version(aliceDir, 'alice', deviceId), 4);
      // The sessions with the page used its one-time KEM prekeys (alice's
      // primary and bob each took one), so they are PQXDH on its side too.
      assert.ok(
        (await kem.countOneTimeKemPreKeys('alice', deviceId)) <= KEM_PRE_KEY_BATCH - 2,
        'the page answered two PQXDH sessions',
      );

      // The devices pane: the toggle is on by default; off is kept across a reload.
      await page.getByTestId('devices-open').click();
      const toggle = page.getByTestId('post-quantum-toggle');
      await page.waitForFunction(
        () =>
          document.querySelector<HTMLInputElement>('[data-testid="post-quantum-toggle"]')
            ?.disabled === false,
      );
      assert.equal(await toggle.isChecked(), true);
      await shot(page, '02-setting-on');
      await toggle.uncheck();
      await page.waitForFunction(
        () =>
          document.querySelector<HTMLInputElement>('[data-testid="post-quantum-toggle"]')
            ?.disabled === false,
      );
      await page.reload();
      await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
      await page.getByTestId('devices-open').click();
      await page.waitForFunction(
        () =>
          document.querySelector<HTMLInputElement>('[data-testid="post-quantum-toggle"]')
            ?.disabled === false,
      );
      assert.equal(await page.getByTestId('post-quantum-toggle').isChecked(), false);
      await shot(page, '03-setting-off');
      await page.getByTestId('post-quantum-toggle').check();

      assert.deepEqual(problems, []);
      await context.close();
    });
  },
);
