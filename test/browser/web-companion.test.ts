/**
 * The browser companion end to end: real Chromium, the real server serving
 * the built app, and the real `quintet` CLI (`node bin/quintet.js`) for the
 * primary and for bob. A fresh page shows a QR code and the link code; the
 * CLI primary approves the code read from the page; the page then chats with
 * bob while the primary's process is not run at all; at the end the primary
 * sees the page's reply as its own outgoing message (self-sync), logs the
 * tab out, and the page says so with its IndexedDB deleted. A second test
 * has the browser as the primary approving and logging out a CLI companion.
 * A screenshot of each step goes to test-artifacts/browser/. The README
 * image (docs/images/browser-companion.png) is a tracked file, so a test run
 * leaves it alone; `npm run docs:screenshot` sets QUINTET_UPDATE_SCREENSHOT=1
 * to copy the chat screenshot over it on purpose.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ensureBuilt, messagesOf, runCli, tempDir, ensureWebBuilt } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README_IMAGE = join(ROOT, 'docs', 'images', 'browser-companion.png');
const ALICE_PIN = '2468';

async function shot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `web-companion-${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Whether the QR canvas holds both dark and light pixels (a drawn code, not a blank box). */
async function qrIsDrawn(page: Page): Promise<boolean> {
  return page.getByTestId('qr').evaluate((canvas) => {
    if (!(canvas instanceof HTMLCanvasElement) || canvas.width < 50) return false;
    const context = canvas.getContext('2d');
    if (context === null) return false;
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if ((data[i] ?? 255) < 128) dark++;
    const pixels = data.length / 4;
    return dark > pixels * 0.2 && dark < pixels * 0.8;
  });
}

/** Names of this origin's IndexedDB databases. */
function databases(page: Page): Promise<string[]> {
  return page.evaluate(async () =>
    (await indexedDB.databases()).map((db) => db.name ?? '').filter((name) => name !== ''),
  );
}

describe('browser companion in Chromium', { timeout: 300_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const dirs = [tempDir('quintet-web-alice-'), tempDir('quintet-web-bob-')];
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

  it('links by QR code to a CLI primary, chats, syncs, reloads, and is logged out', async () => {
    assert.ok(server && browser, 'setup failed');
    await cli(aliceDir, 'register', 'alice', '--pin', ALICE_PIN, '--device-name', 'alice-cli');
    await cli(bobDir, 'register', 'bob', '--pin', '1357');

    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByTestId('link-companion').click();

    // A QR code on a canvas, and the same payload as text.
    await page.getByTestId('qr').waitFor();
    await page.waitForFunction(
      () =>
        (document.querySelector<HTMLInputElement>('[data-testid="link-code"]')?.value.length ?? 0) >
        0,
    );
    assert.equal(await qrIsDrawn(page), true, 'the QR canvas should hold a drawn code');
    const code = await page.getByTestId('link-code').inputValue();
    assert.match(code, /^quintet:\/\/link#1,[^,]+,[^,]+,[^,]+,web$/);
    await page.getByTestId('link-status').getByText('Waiting for your primary device').waitFor();
    await shot(page, '01-qr-code');

    // The primary approves the code read from the page (PIN first).
    const approved = await cli(aliceDir, 'devices', 'approve', code, '--pin', ALICE_PIN);
    const deviceId = Number(/approved: device (\d+)/.exec(approved)?.[1]);
    assert.ok(deviceId >= 2, `unexpected approval output: ${approved}`);

    // The page is now alice's companion: keys made here, chats shown.
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('self').textContent(), 'alice');
    await shot(page, '02-linked');

    // From here to the end of the conversation the primary's CLI is not run.
    await cli(bobDir, 'send', 'alice', 'Hi alice, this is bob');
    const row = page.getByTestId('chat').filter({ hasText: 'bob' });
    await row.getByTestId('unread').getByText('1').waitFor({ timeout: 30_000 });
    await row.click();
    await page.getByTestId('message').getByText('Hi alice, this is bob').waitFor();
    await shot(page, '03-message-from-bob');

    await page.getByTestId('compose').fill('Hello bob, from my browser companion');
    await page.getByTestId('send').click();
    await page.waitForFunction(
      () =>
        document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') === 'sent',
    );
    const bobGot = messagesOf(
      await runCli(['receive', '--json', '--profile', bobDir ?? '', '--server', server.url]),
    ).filter((m) => m['type'] === 'message');
    const reply = bobGot.find((m) => m['text'] === 'Hello bob, from my browser companion');
    assert.ok(reply, `bob did not receive the reply: ${JSON.stringify(bobGot)}`);
    assert.equal(reply['from'], 'alice');
    assert.equal(reply['fromDevice'], deviceId);
    await page.waitForFunction(
      () =>
        document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') ===
        'delivered',
    );
    const chatShot = await shot(page, '04-reply-delivered');
    if (process.env['QUINTET_UPDATE_SCREENSHOT'] === '1') {
      mkdirSync(join(ROOT, 'docs', 'images'), { recursive: true });
      copyFileSync(chatShot, README_IMAGE);
    }

    // A reload keeps the session and the conversation.
    await page.reload();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    await page.getByTestId('message').getByText('Hi alice, this is bob').waitFor();
    await page.getByTestId('message').getByText('Hello bob, from my browser companion').waitFor();
    await shot(page, '05-after-reload');

    // The primary runs again: it sees the page's reply as its own outgoing message.
    const primaryGot = messagesOf(await runCli(['receive', '--json', '--profile', aliceDir ?? '']));
    const synced = primaryGot.find((m) => m['text'] === 'Hello bob, from my browser companion');
    assert.ok(synced, `the primary did not get the self-sync copy: ${JSON.stringify(primaryGot)}`);
    assert.equal(synced['outgoing'], true);
    assert.equal(synced['chat'], 'bob');
    assert.equal(synced['fromDevice'], deviceId);

    // The devices screen lists both devices; a companion cannot approve.
    await page.getByTestId('devices-open').click();
    await page.getByTestId('device').nth(1).waitFor();
    assert.equal(await page.getByTestId('device').count(), 2);
    assert.equal(await page.getByTestId('approve').count(), 0);
    await page.getByTestId('logout-self').waitFor();
    await shot(page, '06-devices');

    // The primary logs the tab out: the page says so and deletes its database.
    await cli(aliceDir, 'devices', 'remove', String(deviceId), '--pin', ALICE_PIN);
    await page.getByTestId('logged-out').waitFor({ timeout: 30_000 });
    assert.match(
      (await page.getByTestId('logged-out').textContent()) ?? '',
      /no longer a device of alice \(removed by the primary device\)/,
    );
    assert.deepEqual(await databases(page), []);
    await shot(page, '07-logged-out');

    assert.deepEqual(problems, []);
    await context.close();
  });

  it('approves a CLI companion from its pasted link code after the PIN, and logs it out', async () => {
    assert.ok(server && browser, 'setup failed');
    const serverUrl = server.url;
    const companion = tempDir('quintet-web-carol-cli-');
    dirs.push(companion);
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(serverUrl);
    await page.getByLabel('Account name').fill('carol');
    await page.getByLabel('PIN', { exact: true }).fill('1357');
    await page.getByLabel('Repeat PIN').fill('1357');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    // `quintet link` waits for an approval and prints its link code.
    const link = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'quintet.js'),
        'link',
        '--profile',
        companion.path,
        '--server',
        serverUrl,
        '--name',
        'carol-cli',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    link.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    link.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => link.once('close', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!/link code: (\S+)/.test(output) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const code = /link code: (\S+)/.exec(output)?.[1];
      assert.ok(code !== undefined, `quintet link printed no code:\n${output}`);

      await page.getByTestId('devices-open').click();
      await page.getByTestId('approve-code').fill(code);
      // A wrong PIN links nothing and says how many attempts are left.
      await page.getByTestId('approve-pin').fill('0000');
      await page.getByTestId('approve').click();
      await page
        .getByRole('alert')
        .getByText('Wrong PIN; nothing was changed. 4 attempts')
        .waitFor();
      await shot(page, '11-wrong-pin');
      await page.getByTestId('approve-pin').fill('1357');
      await page.getByTestId('approve').click();
      assert.equal(await exited, 0, `quintet link failed:\n${output}`);
      assert.match(output, /linked: carol device 2/);
    } finally {
      if (link.exitCode === null) link.kill();
    }
    const cliRow = page.getByTestId('device').filter({ hasText: 'carol-cli' });
    await cliRow.waitFor();
    assert.equal(await page.getByTestId('device').count(), 2);
    await shot(page, '12-primary-devices');

    // Log it out from the page: PIN first, then the list shrinks.
    await cliRow.getByTestId('device-logout').click();
    await cliRow.getByTestId('remove-pin').fill('1357');
    await cliRow.getByRole('button', { name: 'Log out' }).click();
    await cliRow.waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('device').count(), 1);
    await shot(page, '13-companion-removed');
    const after = await runCli(['devices', '--profile', companion.path]);
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, /logged out/);

    assert.deepEqual(problems, []);
    await context.close();
  });

  it('replaces the code when its reference expires; only the newest code links', async () => {
    assert.ok(browser, 'setup failed');
    // A server whose references live 3 s instead of 60 s, so the refresh shows quickly.
    const quick = await startServer({
      memory: true,
      port: 0,
      staticDir: join(ROOT, 'web', 'dist'),
      logLevel: 'silent',
      limits: { linkRefTtlMs: 3_000 },
    });
    const primary = tempDir('quintet-web-dave-');
    dirs.push(primary);
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    try {
      const run = async (...args: string[]) =>
        runCli([...args, '--profile', primary.path, '--server', quick.url]);
      assert.equal((await run('register', 'dave', '--pin', '9753')).code, 0);
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(quick.url);
      await page.getByTestId('link-companion').click();
      await page.getByTestId('qr').waitFor();
      const codeField = page.getByTestId('link-code');
      await page.waitForFunction(
        () =>
          (document.querySelector<HTMLInputElement>('[data-testid="link-code"]')?.value.length ??
            0) > 0,
      );
      const first = await codeField.inputValue();
      await page.waitForFunction(
        (old) =>
          document.querySelector<HTMLInputElement>('[data-testid="link-code"]')?.value !== old,
        first,
        { timeout: 15_000 },
      );
      const second = await codeField.inputValue();
      assert.notEqual(second, first);
      assert.equal(await qrIsDrawn(page), true);
      await shot(page, '21-refreshed-code');

      const stale = await run('devices', 'approve', first, '--pin', '9753');
      assert.notEqual(stale.code, 0, 'an expired code must not link');
      assert.match(stale.stderr, /expired|unknown|replaced/);
      // Approve the code the page shows now; with 3 s references it may expire
      // while the CLI starts, so a few tries with the then-current code.
      let approved = false;
      for (let attempt = 0; attempt < 5 && !approved; attempt++) {
        const current = await codeField.inputValue();
        approved = (await run('devices', 'approve', current, '--pin', '9753')).code === 0;
      }
      assert.ok(approved, 'the current code should link');
      await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
      assert.equal(await page.getByTestId('self').textContent(), 'dave');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await quick.close();
    }
  });
});
