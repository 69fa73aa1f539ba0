/**
 * `chatHistory` (client/core/chat-history.ts), the per-chat query behind
 * `quintet history` and the SDK: messages oldest first with their read
 * state, expired ones left out, `limit` keeping the newest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatHistory, type ChatHistoryEntry } from '../../src/client/core/chat-history.js';
import { createDeviceStore, type DeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';

const T0 = 1_700_000_000_000;

function message(n: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, n);
  const outgoing = extra.outgoing ?? false;
  return {
    id,
    chat: 'bob',
    sender: outgoing ? 'alice' : 'bob',
    senderDevice: 1,
    text: `m${n}`,
    sentAt: T0 + n * 1000,
    receivedAt: outgoing ? 0 : T0 + n * 1000 + 5,
    outgoing,
    receipts: {},
    ...extra,
  };
}

async function all(
  store: DeviceStore,
  options: { limit?: number; now: number },
): Promise<ChatHistoryEntry[]> {
  const out: ChatHistoryEntry[] = [];
  for await (const page of chatHistory(store, 'bob', options)) out.push(...page);
  return out;
}

const summary = (entries: readonly ChatHistoryEntry[]) =>
  entries.map((e) => [e.message.text, e.read, e.readAt]);

describe('chatHistory', () => {
  it('gives each message its read state, oldest first, without expired ones', async () => {
    const store = createDeviceStore(new MemoryBackend());
    await store.messages.put(message(3));
    await store.messages.put(message(1));
    await store.messages.put(message(2, { outgoing: true }));
    await store.messages.put(message(4, { expiresAt: T0 + 10_000 }));
    await store.messages.put(message(5, { expiresAt: T0 + 60_000 }));
    await store.read.markRead('bob', message(1).id, T0 + 7000);
    const now = T0 + 20_000;
    assert.deepEqual(summary(await all(store, { now })), [
      ['m1', true, T0 + 7000],
      ['m2', true, undefined],
      ['m3', false, undefined],
      ['m5', false, undefined],
    ]);
    assert.deepEqual(summary(await all(store, { now, limit: 2 })), [
      ['m3', false, undefined],
      ['m5', false, undefined],
    ]);
    assert.deepEqual(await all(store, { now: T0 + 100_000, limit: 1 }), [
      { message: message(3), read: false },
    ]);
  });

  it('yields nothing for an unknown chat', async () => {
    const store = createDeviceStore(new MemoryBackend());
    assert.deepEqual(await all(store, { now: T0 }), []);
    assert.deepEqual(await all(store, { now: T0, limit: 5 }), []);
  });

  it('pages a long chat without losing or repeating a message', async () => {
    const store = createDeviceStore(new MemoryBackend());
    await store.transaction(async (tx) => {
      for (let i = 1; i <= 2500; i++) await tx.messages.put(message(i));
    });
    const pages: number[] = [];
    for await (const page of chatHistory(store, 'bob', { now: T0 })) pages.push(page.length);
    assert.ok(pages.length > 1, 'more than one page');
    const entries = await all(store, { now: T0 });
    assert.equal(entries.length, 2500);
    assert.equal(new Set(entries.map((e) => e.message.text)).size, 2500);
    assert.deepEqual(
      entries.slice(0, 2).map((e) => e.message.text),
      ['m1', 'm2'],
    );
  });
});
