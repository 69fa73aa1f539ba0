/**
 * The chat-state rules (client/core/chat/chat-state.ts and chat-apply.ts)
 * with an injected clock: who may edit and delete, the windows, last writer
 * wins for edits, reactions and the timer, a delete beating edits, pending
 * events, expiry on arrival and by sweep, and the pending bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyEvent,
  arrivingMessage,
  mergeMessage,
  timerWins,
  visibleReactions,
  type MessageEvent,
} from '../../../src/client/core/chat/chat-state.js';
import { DEFAULT_CHAT_RULES, parseTimer } from '../../../src/client/core/chat/chat-rules.js';
import {
  applyChatData,
  sweepExpired,
  type ChatEnv,
} from '../../../src/client/core/chat/chat-apply.js';
import { createDeviceStore } from '../../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../../src/client/core/store/memory-backend.js';
import {
  decodeStoredMessage,
  encodeStoredMessage,
} from '../../../src/client/core/store/records.js';
import { DAY, HOUR, MIN, T0, data, idOf, stored } from './chat-helpers.js';

const rules = DEFAULT_CHAT_RULES;

function event(
  kind: 'edit' | 'delete' | 'reaction' | 'delete-for-me',
  n: number,
  fields: Partial<MessageEvent> & { text?: string; emoji?: string; remove?: boolean } = {},
): MessageEvent {
  const base = {
    chat: 'chat',
    sender: 'alice',
    senderDevice: 1,
    eventId: idOf(1000 + n),
    at: T0 + MIN,
    target: { author: 'alice', id: idOf(1) },
  };
  switch (kind) {
    case 'edit':
      return { ...base, ...fields, kind, text: fields.text ?? `edit ${n}` };
    case 'reaction':
      return {
        ...base,
        sender: 'bob',
        ...fields,
        kind,
        emoji: fields.emoji ?? '👍',
        remove: fields.remove ?? false,
      };
    default:
      return { ...base, ...fields, kind };
  }
}

function applied(result: ReturnType<typeof applyEvent>) {
  assert.equal(result.kind, 'applied');
  return result.message;
}

describe('chat state rules', () => {
  const message = stored(1, 'alice');

  it('lets the author edit within the window, and refuses others and late edits', () => {
    const edited = applied(applyEvent(message, event('edit', 1, { text: 'fixed' }), rules));
    assert.equal(edited.text, 'fixed');
    assert.equal(edited.edit?.at, T0 + MIN);
    assert.deepEqual(applyEvent(message, event('edit', 2, { sender: 'bob' }), rules), {
      kind: 'refused',
      reason: 'not-author',
    });
    const late = event('edit', 3, { at: T0 + 15 * MIN + 1 });
    assert.deepEqual(applyEvent(message, late, rules), {
      kind: 'refused',
      reason: 'edit-window-passed',
    });
    // Exactly at the window's end is still allowed; a configured window counts.
    applied(applyEvent(message, event('edit', 4, { at: T0 + 15 * MIN }), rules));
    applied(applyEvent(message, late, { ...rules, editWindowMs: HOUR }));
  });

  it('refuses an event naming the message with another author', () => {
    const wrong = event('reaction', 1, { target: { author: 'mallory', id: idOf(1) } });
    assert.deepEqual(applyEvent(message, wrong, rules), {
      kind: 'refused',
      reason: 'target-mismatch',
    });
  });

  it('keeps the latest edit by (time, device, id) whatever the order', () => {
    const a = event('edit', 1, { text: 'a', at: T0 + 2 * MIN });
    const b = event('edit', 2, { text: 'b', at: T0 + 2 * MIN, senderDevice: 2 });
    const c = event('edit', 3, { text: 'c', at: T0 + MIN });
    for (const order of [
      [a, b, c],
      [c, b, a],
      [b, a, c],
    ]) {
      let state = message;
      for (const e of order) {
        const result = applyEvent(state, e, rules);
        if (result.kind === 'applied') state = result.message;
      }
      assert.equal(state.text, 'b');
    }
  });

  it('lets a delete for everyone beat edits in either order and drop the attachment', () => {
    const withFile = stored(1, 'alice', T0, {
      attachment: {
        blobId: 'blob',
        mediaKey: new Uint8Array(32),
        plaintextSha256: new Uint8Array(32),
        ciphertextSha256: new Uint8Array(32),
        size: 1,
        mimeType: 'text/plain',
        fileName: 'a.txt',
        thumbnail: new Uint8Array(0),
      },
    });
    const del = event('delete', 1);
    const edit = event('edit', 2, { at: T0 + 2 * MIN });
    const first = applied(applyEvent(withFile, del, rules));
    assert.equal(applyEvent(first, edit, rules).kind, 'unchanged');
    const second = applied(applyEvent(applied(applyEvent(withFile, edit, rules)), del, rules));
    assert.deepEqual(first, second);
    assert.equal(first.deleted, 'everyone');
    assert.equal(first.text, '');
    assert.equal(first.attachment, undefined);
    assert.equal(first.edit, undefined);
  });

  it('refuses deletes by others and after 48 hours', () => {
    assert.deepEqual(applyEvent(message, event('delete', 1, { sender: 'bob' }), rules), {
      kind: 'refused',
      reason: 'not-author',
    });
    assert.deepEqual(applyEvent(message, event('delete', 2, { at: T0 + 2 * DAY + 1 }), rules), {
      kind: 'refused',
      reason: 'delete-window-passed',
    });
    applied(applyEvent(message, event('delete', 3, { at: T0 + 2 * DAY }), rules));
  });

  it('keeps one reaction per account, replaceable and removable, order-free', () => {
    const like = event('reaction', 1, { emoji: '👍', at: T0 + MIN });
    const heart = event('reaction', 2, { emoji: '❤️', at: T0 + 2 * MIN });
    const remove = event('reaction', 3, { remove: true, emoji: '', at: T0 + 3 * MIN });
    const carol = event('reaction', 4, { sender: 'carol', emoji: '😂' });
    const orders = [
      [like, heart, remove, carol],
      [remove, carol, heart, like],
      [carol, heart, like],
      [heart, like, carol],
    ];
    const results = orders.map((order) => {
      let state = message;
      for (const e of order) {
        const result = applyEvent(state, e, rules);
        if (result.kind === 'applied') state = result.message;
      }
      return visibleReactions(state);
    });
    assert.deepEqual(results[0], { carol: '😂' });
    assert.deepEqual(results[1], { carol: '😂' });
    assert.deepEqual(results[2], { bob: '❤️', carol: '😂' });
    assert.deepEqual(results[3], { bob: '❤️', carol: '😂' });
  });

  it('never lets timer entries be edited or reacted to', () => {
    const entry = stored(1, 'alice', T0, { timerChange: 86_400, text: '' });
    assert.deepEqual(applyEvent(entry, event('reaction', 1), rules), {
      kind: 'refused',
      reason: 'not-a-message',
    });
  });

  it('computes expiry from the carried timer and tombstones a message that arrives expired', () => {
    const timed = stored(1, 'alice', T0, { expireTimer: 86_400 });
    assert.equal(arrivingMessage(timed, T0 + HOUR).expiresAt, T0 + DAY);
    const late = arrivingMessage(timed, T0 + DAY);
    assert.equal(late.deleted, 'expired');
    assert.equal(late.text, '');
  });

  it('runs a timer second as the rules say (a test scale), with the wire value unchanged', () => {
    const timed = stored(1, 'alice', T0, { expireTimer: 86_400 });
    const scaled = arrivingMessage(timed, T0, 0.1);
    assert.equal(scaled.expiresAt, T0 + 8640);
    assert.equal(scaled.expireTimer, 86_400);
    assert.equal(arrivingMessage(timed, T0 + 8640, 0.1).deleted, 'expired');
  });

  it('orders timer changes by time, then sender, device and id', () => {
    const base = { seconds: 86_400, at: T0, sender: 'alice', device: 1, eventId: idOf(1) };
    assert.equal(timerWins(base, undefined), true);
    assert.equal(timerWins({ ...base, at: T0 - 1 }, base), false);
    assert.equal(timerWins({ ...base, sender: 'bob' }, base), true);
    assert.equal(timerWins({ ...base, eventId: idOf(2) }, base), true);
    assert.equal(timerWins(base, base), false);
    assert.equal(parseTimer('7d'), 7 * 86_400);
    assert.equal(parseTimer('off'), 0);
    assert.equal(parseTimer('1h'), undefined);
  });

  it('joins two states of one message (history import)', () => {
    const here = applied(applyEvent(message, event('reaction', 1, { emoji: '👍' }), rules));
    const there = applied(applyEvent(message, event('edit', 2, { text: 'new' }), rules));
    const merged = mergeMessage(here, there);
    assert.equal(merged.text, 'new');
    assert.deepEqual(visibleReactions(merged), { bob: '👍' });
    const deleted = applied(applyEvent(message, event('delete', 3), rules));
    assert.equal(mergeMessage(here, deleted).deleted, 'everyone');
  });

  it('stores and reads back every state field', () => {
    const full = applied(
      applyEvent(
        stored(1, 'alice', T0, {
          replyTo: { author: 'bob', id: idOf(9), snippet: 'earlier' },
          expireTimer: 604_800,
          expiresAt: T0 + 7 * DAY,
          edit: { at: T0 + 1, device: 2, eventId: idOf(7) },
        }),
        event('reaction', 1),
        rules,
      ),
    );
    assert.deepEqual(decodeStoredMessage(encodeStoredMessage(full)), full);
    const gone = applied(applyEvent(full, event('delete-for-me', 2), rules));
    assert.deepEqual(decodeStoredMessage(encodeStoredMessage(gone)), gone);
  });
});

describe('chat state in the device store', () => {
  const alice = { chat: 'alice', sender: 'alice', senderDevice: 1, outgoing: false };
  const env = (now: number): ChatEnv => ({ now, rules });

  it('keeps events for a message not here yet and applies them when it arrives', async () => {
    const store = createDeviceStore(new MemoryBackend());
    const target = { author: 'alice', messageId: idOf(1) };
    const edit = data({
      messageId: idOf(2),
      timestamp: BigInt(T0 + MIN),
      event: { case: 'edit', value: { target, text: 'edited' } },
    });
    const react = data({
      messageId: idOf(3),
      timestamp: BigInt(T0 + MIN),
      event: { case: 'reaction', value: { target, emoji: '🎉' } },
    });
    assert.deepEqual(await applyChatData(store, alice, edit, env(T0 + MIN)), []);
    const bob = { ...alice, sender: 'bob' };
    assert.deepEqual(
      await applyChatData(store, { ...bob, chat: 'alice' }, react, env(T0 + MIN)),
      [],
    );
    assert.equal(await store.messages.get('alice', idOf(1)), undefined);
    const updates = await store.transaction((tx) =>
      applyChatData(
        tx,
        alice,
        data({ messageId: idOf(1), text: 'original', timestamp: BigInt(T0) }),
        env(T0 + 2 * MIN),
      ),
    );
    assert.deepEqual(
      updates.map((u) => u.kind),
      ['message', 'changed', 'changed'],
    );
    const message = await store.messages.get('alice', idOf(1));
    assert.equal(message?.text, 'edited');
    assert.ok(message !== undefined);
    assert.deepEqual(visibleReactions(message), { bob: '🎉' });
    // Pending events are forgotten once applied.
    assert.deepEqual(await store.chat.takePending('alice', idOf(1)), []);
  });

  it('bounds the pending events of a chat and reports the refusal', async () => {
    const store = createDeviceStore(new MemoryBackend());
    const small = { now: T0, rules: { ...rules, maxPendingPerChat: 2 } };
    const results = [];
    for (let i = 0; i < 3; i++) {
      const update = await applyChatData(
        store,
        alice,
        data({
          messageId: idOf(100 + i),
          timestamp: BigInt(T0),
          event: {
            case: 'reaction',
            value: { target: { author: 'alice', messageId: idOf(i) }, emoji: '👍' },
          },
        }),
        small,
      );
      results.push(update);
    }
    assert.deepEqual(results[0], []);
    assert.deepEqual(results[1], []);
    assert.equal(results[2]?.[0]?.kind, 'refused');
    assert.equal(results[2]?.[0]?.kind === 'refused' && results[2][0].reason, 'pending-full');
  });

  it('removes messages past their timer in a sweep with the injected clock, once', async () => {
    const store = createDeviceStore(new MemoryBackend());
    for (const [n, timer] of [
      [1, 86_400],
      [2, 604_800],
      [3, 0],
    ] as const) {
      await applyChatData(
        store,
        alice,
        data({ messageId: idOf(n), text: `m${n}`, timestamp: BigInt(T0), expireTimer: timer }),
        env(T0),
      );
    }
    assert.deepEqual(await store.transaction((tx) => sweepExpired(tx, T0 + DAY - 1, 10)), []);
    const first = await store.transaction((tx) => sweepExpired(tx, T0 + DAY, 10));
    assert.equal(first.length, 1);
    assert.equal((await store.messages.get('alice', idOf(1)))?.deleted, 'expired');
    assert.equal((await store.messages.get('alice', idOf(2)))?.text, 'm2');
    assert.deepEqual(await store.transaction((tx) => sweepExpired(tx, T0 + DAY, 10)), []);
    await store.transaction((tx) => sweepExpired(tx, T0 + 30 * DAY, 10));
    assert.equal((await store.messages.get('alice', idOf(2)))?.deleted, 'expired');
    assert.equal((await store.messages.get('alice', idOf(3)))?.deleted, undefined);
    // A redelivered copy of an expired message does not bring it back.
    await applyChatData(
      store,
      alice,
      data({ messageId: idOf(1), text: 'm1', timestamp: BigInt(T0), expireTimer: 86_400 }),
      env(T0),
    );
    assert.equal((await store.messages.get('alice', idOf(1)))?.text, '');
  });

  it('stores a message that arrives after its expiry as expired, with no message update', async () => {
    const store = createDeviceStore(new MemoryBackend());
    const updates = await applyChatData(
      store,
      alice,
      data({ messageId: idOf(1), text: 'old', timestamp: BigInt(T0), expireTimer: 86_400 }),
      env(T0 + 2 * DAY),
    );
    assert.deepEqual(updates, []);
    assert.equal((await store.messages.get('alice', idOf(1)))?.deleted, 'expired');
  });

  it('records timer changes as chat entries and keeps the latest as the setting', async () => {
    const store = createDeviceStore(new MemoryBackend());
    const change = (n: number, at: number, seconds: number) =>
      data({
        messageId: idOf(n),
        timestamp: BigInt(at),
        event: { case: 'timerChange', value: { seconds } },
      });
    await applyChatData(store, alice, change(1, T0 + 2 * MIN, 604_800), env(T0));
    const late = await applyChatData(store, alice, change(2, T0 + MIN, 86_400), env(T0));
    assert.equal((await store.chat.timer('alice'))?.seconds, 604_800);
    assert.deepEqual(late[1], {
      kind: 'timer',
      chat: 'alice',
      seconds: 604_800,
      by: 'alice',
      at: T0 + MIN,
    });
    const entries = (await store.messages.list('alice')).map((m) => m.timerChange);
    assert.deepEqual(entries, [86_400, 604_800]);
  });

  it('refuses a group timer change by a member who is not an admin', async () => {
    const store = createDeviceStore(new MemoryBackend());
    const group = '0b7c6f3e-1111-4222-8333-944445555666';
    const updates = await applyChatData(
      store,
      { chat: group, sender: 'bob', senderDevice: 1, outgoing: false },
      data({
        messageId: idOf(1),
        timestamp: BigInt(T0),
        event: { case: 'timerChange', value: { seconds: 86_400 } },
      }),
      env(T0),
    );
    assert.equal(updates[0]?.kind === 'refused' && updates[0].reason, 'not-admin');
    assert.equal(await store.chat.timer(group), undefined);
    assert.deepEqual(await store.messages.list(group), []);
  });
});
