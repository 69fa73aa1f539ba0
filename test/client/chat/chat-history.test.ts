/**
 * History sync and chat state: the primary's archive leaves out messages
 * deleted for everyone, deleted for itself and past their timer (even
 * before a sweep), and the records it carries hold their state. (The
 * import's join is `mergeMessage`, tested in chat-state.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildArchive } from '../../../src/client/core/history/archive-builder.js';
import { decodeRecords, decryptArchive } from '../../../src/client/core/history/archive-format.js';
import { applyChatData, applyMessageEvent } from '../../../src/client/core/chat/chat-apply.js';
import { DEFAULT_CHAT_RULES } from '../../../src/client/core/chat/chat-rules.js';
import { visibleReactions } from '../../../src/client/core/chat/chat-state.js';
import { createDeviceStore } from '../../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../../src/client/core/store/memory-backend.js';
import { zlibCompressor } from '../../../src/client/platform/zlib-compressor.js';
import { nodeCrypto } from '../../../src/crypto/node.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { toHex } from '../../../src/client/core/bytes.js';
import { DAY, MIN, T0, data, idOf } from './chat-helpers.js';

async function* from<T>(values: readonly T[]): AsyncIterable<T> {
  for (const value of values) yield value;
}

describe('history archives and chat state', () => {
  it('leaves deleted and expired messages out of the archive', async () => {
    const now = T0 + 2 * DAY;
    const ctx: ProtocolContext = {
      crypto: nodeCrypto,
      random: (n) => nodeCrypto.randomBytes(n),
      clock: { now: () => now },
    };
    const store = createDeviceStore(new MemoryBackend());
    const bob = { chat: 'bob', sender: 'bob', senderDevice: 1, outgoing: false };
    const env = { now: T0, rules: DEFAULT_CHAT_RULES };
    const send = (n: number, extra: { expireTimer?: number } = {}) =>
      applyChatData(
        store,
        bob,
        data({ messageId: idOf(n), text: `m${n}`, timestamp: BigInt(T0 + n * MIN), ...extra }),
        env,
      );
    await send(1);
    await send(2);
    await send(3, { expireTimer: 86_400 }); // expired by `now`, not yet swept
    await send(4, { expireTimer: 604_800 }); // still shown
    await send(5);
    await applyChatData(
      store,
      bob,
      data({
        messageId: idOf(20),
        timestamp: BigInt(T0 + 3 * MIN),
        event: { case: 'delete', value: { target: { author: 'bob', messageId: idOf(2) } } },
      }),
      env,
    );
    await applyChatData(
      store,
      bob,
      data({
        messageId: idOf(21),
        timestamp: BigInt(T0 + 6 * MIN),
        event: {
          case: 'reaction',
          value: { target: { author: 'bob', messageId: idOf(1) }, emoji: '👍' },
        },
      }),
      env,
    );
    await store.transaction(async (tx) => {
      // Delete-for-me of message 5 (as a sync from another own device would).
      await applyMessageEvent(
        tx,
        {
          kind: 'delete-for-me',
          chat: 'bob',
          sender: 'alice',
          senderDevice: 2,
          eventId: idOf(5),
          at: T0,
          target: { author: 'bob', id: idOf(5) },
        },
        env,
      );
    });
    const built = await buildArchive(ctx, store, zlibCompressor, 0);
    const items = [];
    for await (const item of decodeRecords(
      zlibCompressor.decompress(decryptArchive(nodeCrypto, built.key, from(built.frames))),
    )) {
      items.push(item);
    }
    assert.deepEqual(
      items.map((item) => toHex(item.message.id)),
      [idOf(1), idOf(4)].map(toHex),
    );
    assert.equal(built.messageCount, 2);
    // The archived record carries the state.
    const first = items[0]?.message;
    assert.ok(first !== undefined);
    assert.deepEqual(visibleReactions(first), { bob: '👍' });
  });
});
