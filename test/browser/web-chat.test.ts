/**
 * Chat state through the browser UI in real Chromium (issue 14): alice's
 * browser tab and bob's Node client (in-memory store). Reply, react, edit,
 * delete for everyone, delete for me and the disappearing timer are done
 * through the per-message menu and the chat header, and bob's own store
 * must end in the same state; bob's reactions, deletes and timer changes
 * must show in the page. The same in a group chat (bob's group with the
 * page's account and carol): the group's name, each message's sender, the
 * menu's reply/react/edit/delete reaching both members' stores, the timer
 * only admins may change (the page's account is not one), and a message
 * menu closing on a click outside or Escape. A screenshot of each step goes
 * to test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ensureWebBuilt } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';
import {
  connectNodeParty,
  registerNodeParty,
  startNodeParty,
  type NodeParty,
} from './fixtures/node-party.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEVEN_DAYS = 604_800;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `web-chat-${name}.png`) });
}

/** Opens the menu of the bubble holding `text` and clicks the item `testid`. */
async function menu(page: Page, bubble: Locator, testid: string, emoji?: string): Promise<void> {
  await bubble.hover();
  await bubble.getByTestId('message-menu-button').click();
  const items = bubble.getByTestId('message-menu').getByTestId(testid);
  await (emoji === undefined ? items : items.and(page.locator(`[data-emoji="${emoji}"]`))).click();
}

/** The bubble of the message `id` (its data-id is the id in hex). */
function bubbleOf(page: Page, id: Uint8Array): Locator {
  return page.locator(`[data-testid="message"][data-id="${Buffer.from(id).toString('hex')}"]`);
}

/** Bob's stored copy of the message with `id` (in `chat`). */
async function bobsCopy(
  store: DeviceStore,
  id: Uint8Array,
  chat = 'alice',
): Promise<StoredMessage | undefined> {
  const all = await store.messages.list(chat);
  return all.find((m) => Buffer.from(m.id).equals(Buffer.from(id)));
}

describe('web app chat state in Chromium', { timeout: 240_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  let bob: NodeParty | undefined;
  let bobStore: DeviceStore | undefined;

  before(async () => {
    ensureWebBuilt();
    server = await startServer({
      memory: true,
      port: 0,
      staticDir: join(ROOT, 'web', 'dist'),
      logLevel: 'silent',
    });
    browser = await launchChromium();
    bobStore = await registerNodeParty(server, 'bob');
    bob = await connectNodeParty(server, bobStore);
  });

  after(async () => {
    await bob?.client.close();
    await browser?.close();
    await server?.close();
  });

  it('replies, reacts, edits, deletes and sets the timer through the menu', async () => {
    assert.ok(server && browser && bob && bobStore, 'setup failed');
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByLabel('Account name').fill('alice');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    const question = await bob.client.chat.send('alice', 'Lunch at noon?');
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    const bobsBubble = bubbleOf(page, question.id);
    await bobsBubble.waitFor();

    // Reply: the quote shows above alice's answer, and bob's copy references his message.
    await menu(page, bobsBubble, 'menu-reply');
    await page.getByTestId('compose-mode').getByText('Replying to bob').waitFor();
    await shot(page, '01-replying');
    await page.getByTestId('compose').fill('Yes, see you there');
    await page.getByTestId('send').click();
    const answer = await bob.events.next('message', 15_000, (e) => e.message.sender === 'alice');
    assert.equal(answer.message.text, 'Yes, see you there');
    assert.deepEqual(answer.message.replyTo?.id, question.id);
    assert.equal(answer.message.replyTo?.author, 'bob');
    const answerBubble = bubbleOf(page, answer.message.id);
    await answerBubble.getByTestId('quote').getByText('Lunch at noon?').waitFor();
    assert.equal(await page.getByTestId('compose-mode').isHidden(), true);
    await shot(page, '02-replied');

    // React: alice's 👍 lands in bob's store; bob's ❤️ shows under alice's answer.
    await menu(page, bobsBubble, 'menu-react', '👍');
    await bob.events.next('reaction', 15_000);
    assert.equal((await bobsCopy(bobStore, question.id))?.reactions?.['alice']?.emoji, '👍');
    await bobsBubble.getByTestId('reaction').and(page.locator('[data-emoji="👍"]')).waitFor();
    await bob.client.chat.react('alice', answer.message.id, '❤️');
    await answerBubble.getByTestId('reaction').and(page.locator('[data-emoji="❤️"]')).waitFor();
    await shot(page, '03-reactions');

    // Removing her own reaction by tapping it reaches bob too.
    await bobsBubble.getByTestId('reaction').click();
    await bob.events.next('reaction', 15_000, (e) => e.removed);
    await bobsBubble.getByTestId('reactions').waitFor({ state: 'detached' });
    assert.equal((await bobsCopy(bobStore, question.id))?.reactions?.['alice']?.removed, true);

    // Edit: the compose box takes the text; bob's copy has the new one, the page says "edited".
    await menu(page, answerBubble, 'menu-edit');
    assert.equal(await page.getByTestId('compose').inputValue(), 'Yes, see you there');
    await page.getByTestId('compose').fill('Yes, see you at 12:30');
    await page.getByTestId('send').click();
    const edited = await bob.events.next('message-edited', 15_000);
    assert.equal(edited.text, 'Yes, see you at 12:30');
    const editedBubble = answerBubble;
    await editedBubble.getByText('see you at 12:30').waitFor();
    await editedBubble.getByTestId('edited').waitFor();
    assert.equal((await bobsCopy(bobStore, answer.message.id))?.text, 'Yes, see you at 12:30');
    await shot(page, '04-edited');

    // Bob deletes his question for everyone: its bubble says so, the quote loses it.
    await bob.client.chat.deleteForEveryone('alice', question.id);
    await page.getByTestId('deleted').getByText('This message was deleted').waitFor();
    await editedBubble.getByTestId('quote-missing').waitFor();
    assert.equal(await editedBubble.getByTestId('quote').getByText('Lunch at noon?').count(), 0);
    await shot(page, '05-deleted-by-bob');

    // Delete for me: the deleted question disappears from alice's list only.
    await menu(page, bobsBubble, 'menu-delete-me');
    await page.getByTestId('deleted').waitFor({ state: 'detached' });
    assert.equal((await bobsCopy(bobStore, question.id))?.deleted, 'everyone');

    // Delete for everyone of alice's answer: bob's copy is marked deleted, the text gone.
    await menu(page, editedBubble, 'menu-delete-everyone');
    // (Bob's own delete above was reported to him too: wait for this one.)
    const answerId = Buffer.from(answer.message.id);
    const gone = await bob.events.next('message-deleted', 15_000, (e) =>
      answerId.equals(e.messageId),
    );
    assert.equal(gone.scope, 'everyone');
    const bobsAnswer = await bobsCopy(bobStore, answer.message.id);
    assert.equal(bobsAnswer?.deleted, 'everyone');
    assert.equal(bobsAnswer.text, '');
    await page.getByTestId('deleted').waitFor();
    assert.equal(await page.getByText('see you at 12:30').count(), 0);
    await shot(page, '06-deleted-by-alice');

    // Timer: set in the header, shown in the chat, and bob's chat has it; bob turns it off.
    await page.getByTestId('timer').selectOption(String(SEVEN_DAYS));
    const timer = await bob.events.next('timer-changed', 15_000);
    assert.equal(timer.seconds, SEVEN_DAYS);
    assert.equal(await bob.client.chat.timer('alice'), SEVEN_DAYS);
    await page
      .getByTestId('timer-notice')
      .getByText('set disappearing messages to 7 days')
      .waitFor();
    await bob.client.chat.setTimer('alice', 0);
    await page.getByTestId('timer-notice').getByText('bob turned off').waitFor();
    await page.waitForFunction(
      () => (document.querySelector('[data-testid="timer"]') as HTMLSelectElement).value === '0',
    );
    await shot(page, '07-timer');

    assert.deepEqual(problems, []);
    await context.close();
  });

  it('does the same in a group chat; the menu closes on a click outside or Escape', async () => {
    assert.ok(server && browser && bob && bobStore, 'setup failed');
    const carol = await startNodeParty(server, 'carol');
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(server.url);
      await page.getByLabel('Account name').fill('dana');
      await page.getByLabel('PIN', { exact: true }).fill('2468');
      await page.getByLabel('Repeat PIN').fill('2468');
      await page.getByTestId('register').click();
      await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

      const group = await bob.client.groups.create('Lunch crew', ['dana', 'carol']);
      const chat = group.groupId;
      const question = await bob.client.chat.send(chat, 'Pizza today?');
      const row = page.locator(`[data-testid="chat"][data-chat="${chat}"]`);
      await row.getByText('Lunch crew').waitFor();
      await row.click();
      await page.getByTestId('conversation-title').getByText('Lunch crew').waitFor();
      const bobsBubble = bubbleOf(page, question.id);
      await bobsBubble.getByTestId('sender').getByText('bob').waitFor();
      // No one safety number in a group; only admins (bob) change the timer.
      assert.equal(await page.getByTestId('safety').count(), 0);
      assert.equal(await page.getByTestId('timer').isDisabled(), true);

      // The menu closes on a click outside it, and on Escape.
      await bobsBubble.hover();
      await bobsBubble.getByTestId('message-menu-button').click();
      await page.getByTestId('message-menu').waitFor();
      await page.getByTestId('conversation-title').click();
      await page.getByTestId('message-menu').waitFor({ state: 'detached' });
      await bobsBubble.hover();
      await bobsBubble.getByTestId('message-menu-button').click();
      await page.getByTestId('message-menu').waitFor();
      await shot(page, '08-group-menu');
      await page.keyboard.press('Escape');
      await page.getByTestId('message-menu').waitFor({ state: 'detached' });

      // Reply: both members' copies reference bob's message.
      await menu(page, bobsBubble, 'menu-reply');
      await page.getByTestId('compose-mode').getByText('Replying to bob').waitFor();
      await page.getByTestId('compose').fill('Yes please');
      await page.getByTestId('send').click();
      const fromDana = (e: { message: StoredMessage }): boolean => e.message.sender === 'dana';
      const answer = await bob.events.next('message', 15_000, fromDana);
      const carolsAnswer = await carol.events.next('message', 15_000, fromDana);
      assert.equal(answer.message.chat, chat);
      assert.deepEqual(answer.message.replyTo?.id, question.id);
      assert.deepEqual(carolsAnswer.message.replyTo?.id, question.id);
      const answerBubble = bubbleOf(page, answer.message.id);
      await answerBubble.getByTestId('quote').getByText('Pizza today?').waitFor();

      // React: dana's 👍 lands with bob; carol's ❤️ shows under dana's answer.
      await menu(page, bobsBubble, 'menu-react', '👍');
      await bob.events.next('reaction', 15_000, (e) => e.reactor === 'dana');
      assert.equal((await bobsCopy(bobStore, question.id, chat))?.reactions?.['dana']?.emoji, '👍');
      await bobsBubble.getByTestId('reaction').and(page.locator('[data-emoji="👍"]')).waitFor();
      await carol.client.chat.react(chat, answer.message.id, '❤️');
      await answerBubble.getByTestId('reaction').and(page.locator('[data-emoji="❤️"]')).waitFor();
      await shot(page, '09-group-reactions');

      // Edit: bob's copy has the new text, the page says "edited".
      await menu(page, answerBubble, 'menu-edit');
      await page.getByTestId('compose').fill('Yes please, with olives');
      await page.getByTestId('send').click();
      const edited = await bob.events.next('message-edited', 15_000, (e) => e.chat === chat);
      assert.equal(edited.text, 'Yes please, with olives');
      await answerBubble.getByTestId('edited').waitFor();
      assert.equal((await bobsCopy(bobStore, answer.message.id, chat))?.text, edited.text);

      // Delete for everyone: both members' copies are marked deleted.
      await menu(page, answerBubble, 'menu-delete-everyone');
      const answerId = Buffer.from(answer.message.id);
      for (const member of [bob, carol]) {
        const gone = await member.events.next('message-deleted', 15_000, (e) =>
          answerId.equals(e.messageId),
        );
        assert.equal(gone.scope, 'everyone');
      }
      assert.equal((await bobsCopy(bobStore, answer.message.id, chat))?.deleted, 'everyone');
      await answerBubble.getByTestId('deleted').waitFor();
      await shot(page, '10-group-deleted');

      // Bob (the admin) sets the timer: the notice and the header show it.
      await bob.client.chat.setTimer(chat, SEVEN_DAYS);
      await page
        .getByTestId('timer-notice')
        .getByText('bob set disappearing messages to 7 days')
        .waitFor();
      await page.waitForFunction(
        (seconds) =>
          (document.querySelector('[data-testid="timer"]') as HTMLSelectElement).value ===
          String(seconds),
        SEVEN_DAYS,
      );
      await shot(page, '11-group-timer');

      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await carol.client.close();
    }
  });
});
