/**
 * Chat state through the real server (in-process, memory stores): alice
 * (primary + companion) and bob (primary + companion) reply, react, edit,
 * delete and set a disappearing timer in their 1:1 chat, and all four
 * devices end in the same state. Also: a receiver refuses an event that
 * names the message with the wrong author and an edit after the window,
 * delete-for-me stays on the deleting account's devices, a message past
 * its timer disappears on every device in a sweep with an injected time,
 * and a group (sender key) carries the same events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../../src/server/main.js';
import { toHex } from '../../../src/client/core/bytes.js';
import { QuintetClient } from '../../../src/client/core/client.js';
import { sweepExpired } from '../../../src/client/core/chat/chat-apply.js';
import { DEFAULT_CHAT_RULES } from '../../../src/client/core/chat/chat-rules.js';
import { ChatError } from '../../../src/client/core/chat/errors.js';
import { visibleReactions } from '../../../src/client/core/chat/chat-state.js';
import type { ClientEvent } from '../../../src/client/core/events.js';
import type { StoredMessage } from '../../../src/client/core/store/records.js';
import { WsTransport } from '../../../src/client/transport/ws-transport.js';
import type { EventQueue } from '../helpers/clients.js';
import {
  ctx,
  linkDevice,
  registerDevice,
  testServer,
  type TestDevice,
} from '../helpers/clients.js';

const MIN = 60_000;
const DAY = 86_400_000;

interface Online {
  readonly device: TestDevice;
  readonly client: QuintetClient;
  readonly events: EventQueue;
  /** The chat with the other account (or the group) on this device. */
  readonly chat: string;
}

/** What must be equal on every device, per message id. */
function view(message: StoredMessage): unknown {
  return {
    sender: message.sender,
    text: message.text,
    deleted: message.deleted ?? null,
    edited: message.edit !== undefined,
    reactions: visibleReactions(message),
    replyTo:
      message.replyTo === undefined
        ? null
        : [message.replyTo.author, toHex(message.replyTo.id), message.replyTo.snippet],
    expiresAt: message.expiresAt ?? null,
    timerChange: message.timerChange ?? null,
  };
}

async function stateOf(device: Online): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const message of await device.device.store.messages.list(device.chat)) {
    out[toHex(message.id)] = view(message);
  }
  out['timer'] = await device.client.chat.timer(device.chat);
  return out;
}

async function waitAll<T extends ClientEvent['type']>(
  devices: readonly Online[],
  type: T,
  where: (event: Extract<ClientEvent, { type: T }>) => boolean = () => true,
): Promise<void> {
  await Promise.all(devices.map((d) => d.events.next(type, 10_000, where)));
}

const same = (a: Uint8Array) => (b: { messageId: Uint8Array }) => toHex(b.messageId) === toHex(a);

describe('chat state on four devices (real server)', { timeout: 120_000 }, () => {
  let server: RunningServer;
  const opened: QuintetClient[] = [];
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    for (const client of opened) await client.close();
    await server.close();
  });

  async function online(device: TestDevice, chat: string): Promise<Online> {
    const { client, events } = await device.online();
    opened.push(client);
    return { device, client, events, chat };
  }

  it('converges for replies, reactions, edits, deletes and the timer in a 1:1 chat', async () => {
    const alice = await registerDevice(server, 'c-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const bob = await registerDevice(server, 'c-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const a1 = await online(alice, 'c-bob');
    const a2 = await online(alice2, 'c-bob');
    const b1 = await online(bob, 'c-alice');
    const b2 = await online(bob2, 'c-alice');
    const all = [a1, a2, b1, b2];
    const others = (me: Online) => all.filter((d) => d !== me);

    const hello = await a1.client.chat.send('c-bob', 'hello');
    await waitAll(others(a1), 'message', (e) => e.message.text === 'hello');
    const reply = await b2.client.chat.send('c-alice', 'hi back', { replyTo: hello.id });
    assert.deepEqual(reply.replyTo?.snippet, 'hello');
    await waitAll(others(b2), 'message', (e) => e.message.text === 'hi back');

    // Reactions: one per account, replaced from the other device.
    await b1.client.chat.react('c-alice', hello.id, '❤️');
    await waitAll(others(b1), 'reaction', (e) => e.emoji === '❤️');
    await b2.client.chat.react('c-alice', hello.id, '😂');
    await waitAll(others(b2), 'reaction', (e) => e.emoji === '😂');
    await a2.client.chat.react('c-bob', reply.id, '👍');
    await waitAll(others(a2), 'reaction', (e) => e.emoji === '👍');

    // The author's companion edits the primary's message (same account).
    await a2.client.chat.edit('c-bob', hello.id, 'hello, edited');
    await waitAll(others(a2), 'message-edited', same(hello.id));
    // Another account may not: refused locally…
    await assert.rejects(b1.client.chat.edit('c-alice', hello.id, 'hijacked'), (error: unknown) =>
      ChatError.is(error, 'not-author'),
    );

    // Bob deletes his reply for everyone from the other device of his account.
    await b1.client.chat.deleteForEveryone('c-alice', reply.id);
    await waitAll(others(b1), 'message-deleted', same(reply.id));

    // The timer: set by alice, carried by later messages from both sides.
    await a1.client.chat.setTimer('c-bob', 86_400);
    await waitAll(others(a1), 'timer-changed', (e) => e.seconds === 86_400);
    const secret = await a1.client.chat.send('c-bob', 'secret');
    assert.equal(secret.expiresAt, secret.sentAt + DAY);
    await waitAll(others(a1), 'message', (e) => e.message.text === 'secret');
    const answer = await b1.client.chat.send('c-alice', 'noted');
    assert.equal(answer.expireTimer, 86_400);
    await waitAll(others(b1), 'message', (e) => e.message.text === 'noted');

    for (const d of all) await d.client.idle();
    const states = await Promise.all(all.map(stateOf));
    for (const state of states.slice(1)) assert.deepEqual(state, states[0]);
    const hi = states[0]?.[toHex(hello.id)] as { text: string; reactions: object; edited: boolean };
    assert.equal(hi.text, 'hello, edited');
    assert.equal(hi.edited, true);
    assert.deepEqual(hi.reactions, { 'c-bob': '😂' });
    assert.equal((states[0]?.[toHex(reply.id)] as { deleted: string }).deleted, 'everyone');

    // Delete for me: alice's devices only.
    await a1.client.chat.deleteForMe('c-bob', [answer.id]);
    await a2.events.next('message-deleted', 10_000, (e) => e.scope === 'me');
    assert.equal((await a2.device.store.messages.get('c-bob', answer.id))?.deleted, 'me');
    assert.equal((await b2.device.store.messages.get('c-alice', answer.id))?.text, 'noted');

    // A day later (injected time), the timed messages are gone everywhere.
    for (const d of all) {
      await d.device.store.transaction((tx) => sweepExpired(tx, Date.now() + DAY + MIN, 100));
      const gone = await d.device.store.messages.get(d.chat, secret.id);
      assert.equal(gone?.deleted, 'expired');
      assert.equal(gone?.text, '');
      assert.equal((await d.device.store.messages.get(d.chat, hello.id))?.deleted, undefined);
    }
  });

  it('refuses events that name the wrong author and edits after the window', async () => {
    const alice = await registerDevice(server, 'r-alice');
    const bob = await registerDevice(server, 'r-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const a1 = await online(alice, 'r-bob');
    const b1 = await online(bob, 'r-alice');
    const b2 = await online(bob2, 'r-alice');

    const original = await a1.client.chat.send('r-bob', 'original');
    await waitAll([b1, b2], 'message', (e) => e.message.text === 'original');
    // Bob's device claims alice's message is its own (a tampered store):
    // the edit goes out, and every receiver refuses it.
    const copy = await b1.device.store.messages.get('r-alice', original.id);
    assert.ok(copy !== undefined);
    await b1.device.store.messages.put({ ...copy, sender: 'r-bob' });
    await b1.client.chat.edit('r-alice', original.id, 'forged');
    for (const d of [a1, b2]) {
      const refused = await d.events.next('chat-event-refused', 10_000);
      assert.equal(refused.reason, 'target-mismatch');
      assert.equal(refused.event, 'edit');
      assert.equal((await d.device.store.messages.get(d.chat, original.id))?.text, 'original');
    }

    // Alice's device with a clock 20 minutes ahead and a longer window of
    // its own: the receivers' 15-minute window refuses the edit.
    await a1.client.close();
    const transport = await WsTransport.connect(server.url);
    const late = new QuintetClient({
      ctx: { ...ctx, clock: { now: () => Date.now() + 20 * MIN } },
      store: alice.store,
      transport,
      chatRules: { ...DEFAULT_CHAT_RULES, editWindowMs: 60 * MIN },
    });
    opened.push(late);
    await late.start();
    await late.chat.edit('r-bob', original.id, 'too late');
    // (b1's tampered copy names another author: there it is a mismatch.)
    await b2.events.next('chat-event-refused', 10_000, (e) => e.reason === 'edit-window-passed');
    assert.equal((await b2.device.store.messages.get('r-alice', original.id))?.text, 'original');
  });

  it('carries reactions, edits and deletes in a group under the sender key', async () => {
    const alice = await registerDevice(server, 'g-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const bob = await registerDevice(server, 'g-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const a1 = await online(alice, '');
    const group = await a1.client.groups.create('friends', ['g-bob']);
    const groupChat = group.groupId;
    const all = [
      { ...a1, chat: groupChat },
      await online(alice2, groupChat),
      await online(bob, groupChat),
      await online(bob2, groupChat),
    ];
    const [g1, g2, g3, g4] = all as [Online, Online, Online, Online];
    // Wait until every device knows the group.
    for (const d of [g2, g3, g4]) await d.events.next('group-changed', 10_000);

    const first = await g1.client.chat.send(groupChat, 'group hello');
    await waitAll([g2, g3, g4], 'message', (e) => e.message.text === 'group hello');
    await g3.client.chat.react(groupChat, first.id, '🔥');
    await waitAll([g1, g2, g4], 'reaction', (e) => e.emoji === '🔥');
    await g2.client.chat.edit(groupChat, first.id, 'group hello!');
    await waitAll([g1, g3, g4], 'message-edited', same(first.id));
    // Only admins set a group's timer.
    await assert.rejects(g4.client.chat.setTimer(groupChat, 86_400), (error: unknown) =>
      ChatError.is(error, 'not-admin'),
    );
    await g1.client.chat.setTimer(groupChat, 604_800);
    await waitAll([g2, g3, g4], 'timer-changed', (e) => e.seconds === 604_800);
    const second = await g4.client.chat.send(groupChat, 'bye', { replyTo: first.id });
    await waitAll([g1, g2, g3], 'message', (e) => e.message.text === 'bye');
    await g4.client.chat.deleteForEveryone(groupChat, second.id);
    await waitAll([g1, g2, g3], 'message-deleted', same(second.id));

    for (const d of all) await d.client.idle();
    const states = await Promise.all(all.map(stateOf));
    for (const [i, state] of states.entries()) assert.deepEqual(state, states[0], `device ${i}`);
    assert.equal(states[0]?.['timer'], 604_800);
  });
});
