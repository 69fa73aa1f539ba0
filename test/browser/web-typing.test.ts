/**
 * Typing indicators through the browser UI in real Chromium (issue 14):
 * alice's browser tab and bob's Node client (in-memory store). Bob's
 * `started` shows "typing…" in the conversation header and his `stopped`
 * hides it; alice typing in the compose box reaches bob as `started`, and
 * sending it as `stopped`. With the toggle in the devices pane off, the
 * page neither shows bob's indicator nor sends its own. "Nothing arrived"
 * is shown without timing: a message sent afterwards on the same path
 * arrives with no indicator before it. In a group chat (bob's group with
 * the page's account and carol), the header names who is typing — one
 * member, then two — and the page's own typing reaches the members.
 * Screenshots go to test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ensureWebBuilt } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';
import { startNodeParty, type NodeParty } from './fixtures/node-party.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `web-typing-${name}.png`) });
}

describe('web app typing indicators in Chromium', { timeout: 240_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  let bob: NodeParty | undefined;
  let carol: NodeParty | undefined;

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
    carol = await startNodeParty(server, 'carol');
  });

  after(async () => {
    await bob?.client.close();
    await carol?.client.close();
    await browser?.close();
    await server?.close();
  });

  it('shows the peer typing, sends its own, and the toggle turns both off', async () => {
    assert.ok(server && browser && bob, 'setup failed');
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByLabel('Account name').fill('alice');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    await bob.client.chat.send('alice', 'Are you there?');
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    await page.getByTestId('message').getByText('Are you there?').waitFor();
    const typing = page.getByTestId('typing');
    assert.equal(await typing.isHidden(), true);

    // Bob's indicator: shown until his `stopped`.
    assert.equal(await bob.client.typing.send('alice', 'started'), true);
    await typing.getByText('typing…').waitFor({ state: 'visible' });
    await shot(page, '01-bob-typing');
    await bob.client.typing.send('alice', 'stopped');
    await typing.waitFor({ state: 'hidden' });

    // A message from bob ends his indicator too.
    await bob.client.typing.send('alice', 'started');
    await typing.waitFor({ state: 'visible' });
    await bob.client.chat.send('alice', 'Hello?');
    await page.getByTestId('message').getByText('Hello?').waitFor();
    await typing.waitFor({ state: 'hidden' });

    // Alice types: bob is told `started`; sending says `stopped`.
    await page.getByTestId('compose').pressSequentially('Yes, here');
    const started = await bob.events.next('typing', 15_000, (e) => e.state === 'started');
    assert.equal(started.chat, 'alice');
    assert.equal(started.from, 'alice');
    await shot(page, '02-alice-typing');
    await page.getByTestId('send').click();
    await bob.events.next('typing', 15_000, (e) => e.state === 'stopped');
    await bob.events.next('message', 15_000, (e) => e.message.text === 'Yes, here');

    // Leaving the compose box says `stopped` as well.
    await page.getByTestId('compose').pressSequentially('One more');
    await bob.events.next('typing', 15_000, (e) => e.state === 'started');
    await page.getByTestId('conversation-title').click();
    await bob.events.next('typing', 15_000, (e) => e.state === 'stopped');
    await page.getByTestId('compose').fill('');

    // The toggle in the devices pane: off.
    await page.getByTestId('devices-open').click();
    const toggle = page.getByTestId('typing-toggle');
    await page.waitForFunction(
      () => !(document.querySelector('[data-testid="typing-toggle"]') as HTMLInputElement).disabled,
    );
    assert.equal(await toggle.isChecked(), true);
    await toggle.uncheck();
    await page.waitForFunction(
      () => !(document.querySelector('[data-testid="typing-toggle"]') as HTMLInputElement).disabled,
    );
    await shot(page, '03-toggle-off');
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();

    // Bob's indicator is not shown: his next message arrives with none before it.
    await bob.client.typing.send('alice', 'started');
    await bob.client.chat.send('alice', 'Still there?');
    await page.getByTestId('message').getByText('Still there?').waitFor();
    assert.equal(await typing.isHidden(), true);

    // Alice's typing is not sent: bob gets her message with no indicator before it.
    const before = bob.events.seen.length;
    await page.getByTestId('compose').pressSequentially('Quietly');
    await page.getByTestId('send').click();
    await bob.events.next('message', 15_000, (e) => e.message.text === 'Quietly');
    const since = bob.events.seen.slice(before);
    assert.deepEqual(
      since.filter((e) => e.type === 'typing'),
      [],
    );
    await shot(page, '04-off-no-indicators');

    // The setting is kept: after a reload the toggle is still off.
    await page.reload();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
    await page.getByTestId('devices-open').click();
    await page.waitForFunction(
      () => !(document.querySelector('[data-testid="typing-toggle"]') as HTMLInputElement).disabled,
    );
    assert.equal(await page.getByTestId('typing-toggle').isChecked(), false);

    assert.deepEqual(problems, []);
    await context.close();
  });

  it('in a group: names who is typing, and sends its own to the members', async () => {
    assert.ok(server && browser && bob && carol, 'setup failed');
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByLabel('Account name').fill('erin');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    const group = await bob.client.groups.create('Typists', ['erin', 'carol']);
    const chat = group.groupId;
    // Each member's first message gives the others its sender key: indicators need it.
    await bob.client.chat.send(chat, 'Who is in?');
    await carol.client.chat.send(chat, 'Me');
    await page.locator(`[data-testid="chat"][data-chat="${chat}"]`).click();
    await page.getByTestId('conversation-title').getByText('Typists').waitFor();
    await page.getByTestId('message').getByText('Me', { exact: true }).waitFor();
    const typing = page.getByTestId('typing');
    assert.equal(await typing.isHidden(), true);

    assert.equal(await bob.client.typing.send(chat, 'started'), true);
    await typing.getByText('bob is typing…').waitFor({ state: 'visible' });
    assert.equal(await carol.client.typing.send(chat, 'started'), true);
    await typing.getByText('bob and carol are typing…').waitFor({ state: 'visible' });
    await shot(page, '05-group-two-typing');
    // Bob stops; carol's message ends hers.
    await bob.client.typing.send(chat, 'stopped');
    await typing.getByText('carol is typing…').waitFor({ state: 'visible' });
    await carol.client.chat.send(chat, 'Done typing');
    await page.getByTestId('message').getByText('Done typing').waitFor();
    await typing.waitFor({ state: 'hidden' });

    // Erin's typing reaches both members once she has sent a message there.
    await page.getByTestId('compose').fill('Hello both');
    await page.getByTestId('send').click();
    await bob.events.next('message', 15_000, (e) => e.message.text === 'Hello both');
    await carol.events.next('message', 15_000, (e) => e.message.text === 'Hello both');
    await page.getByTestId('compose').pressSequentially('Typing here');
    for (const member of [bob, carol]) {
      const started = await member.events.next(
        'typing',
        15_000,
        (e) => e.state === 'started' && e.from === 'erin',
      );
      assert.equal(started.chat, chat);
    }
    await shot(page, '06-group-erin-typing');
    await page.getByTestId('send').click();
    await bob.events.next('typing', 15_000, (e) => e.state === 'stopped' && e.from === 'erin');

    assert.deepEqual(problems, []);
    await context.close();
  });
});
