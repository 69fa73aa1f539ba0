/**
 * Bootstrap state (client/core/history/bootstrap.ts) against the real store
 * code on the memory backend: what a primary puts in it, what a companion
 * applies (contacts, read states, shared settings), what it refuses (local
 * settings, bad names, entries over the bounds) without losing the rest,
 * and the chat list (chat-list.ts) that shows the result.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { BootstrapStateSchema } from '../../src/gen/quintet/v1/content_pb.js';
import {
  applyBootstrap,
  BOOTSTRAP_LIMITS,
  buildBootstrap,
  SHARED_SETTING_PREFIX,
} from '../../src/client/core/history/bootstrap.js';
import { listChats } from '../../src/client/core/chat-list.js';
import { createDeviceStore, type DeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';

const GROUP = '0b7c6f3e-1111-4222-8333-944445555666';
const T0 = 1_700_000_000_000;

function newStore(): DeviceStore {
  return createDeviceStore(new MemoryBackend());
}

function message(chat: string, n: number, outgoing = false): StoredMessage {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, n);
  return {
    id,
    chat,
    sender: outgoing ? 'alice' : chat === GROUP ? 'bob' : chat,
    senderDevice: 1,
    text: `m${n}`,
    sentAt: T0 + n * 1000,
    receivedAt: outgoing ? 0 : T0 + n * 1000 + 5,
    outgoing,
    receipts: {},
  };
}

const encoder = new TextEncoder();

describe('bootstrap state', () => {
  it('the primary sends contacts, read states and only shared settings', async () => {
    const primary = newStore();
    await primary.transaction(async (tx) => {
      await tx.messages.put(message('bob', 1));
      await tx.messages.put(message('carol', 2, true));
      await tx.messages.put(message(GROUP, 3));
      await tx.read.markRead('bob', message('bob', 1).id, T0 + 9000);
      await tx.settings.put('pin', encoder.encode('secret hash'));
      await tx.settings.put('history-import', Uint8Array.of(1));
      await tx.settings.put(`${SHARED_SETTING_PREFIX}example`, Uint8Array.of(7));
    });
    const state = create(
      BootstrapStateSchema,
      await buildBootstrap(primary, 'alice', { offered: false, since: 0 }),
    );
    assert.deepEqual(state.contacts, ['bob', 'carol']);
    assert.deepEqual(
      state.readStates.map((r) => [r.chat, Number(r.lastReadAt)]),
      [['bob', T0 + 9000]],
    );
    assert.deepEqual(Object.keys(state.settings), [`${SHARED_SETTING_PREFIX}example`]);
  });

  it('the companion applies contacts, read states and shared settings', async () => {
    const companion = newStore();
    // Arrived live between the link and the bootstrap state.
    await companion.transaction(async (tx) => {
      await tx.messages.put(message('bob', 1));
      await tx.messages.put(message('bob', 2, true));
      await tx.messages.put(message('bob', 20));
      await tx.messages.put(message(GROUP, 4));
    });
    const state = create(BootstrapStateSchema, {
      contacts: ['bob', 'dave'],
      readStates: [
        { chat: 'bob', lastReadAt: BigInt(T0 + 10_000) },
        { chat: GROUP, lastReadAt: BigInt(T0 + 10_000) },
      ],
      settings: { [`${SHARED_SETTING_PREFIX}example`]: Uint8Array.of(7) },
    });
    const applied = await companion.transaction((tx) => applyBootstrap(tx, state, 'alice'));
    assert.deepEqual(applied, {
      contacts: 2,
      readChats: 2,
      markedRead: 2,
      settings: 1,
      skipped: 0,
    });
    assert.deepEqual(await companion.contacts.list(), ['bob', 'dave']);
    // Sent before the primary's read time: read; sent after it: unread.
    assert.equal(await companion.read.readAt('bob', message('bob', 1).id), T0 + 10_000);
    assert.equal(await companion.read.readAt('bob', message('bob', 20).id), undefined);
    assert.equal(await companion.read.readAt(GROUP, message(GROUP, 4).id), T0 + 10_000);
    assert.deepEqual(
      await companion.settings.get(`${SHARED_SETTING_PREFIX}example`),
      Uint8Array.of(7),
    );

    const chats = await listChats(companion, 'alice');
    assert.deepEqual(
      chats.map((c) => [c.chat, c.kind, c.messages, c.unread]),
      [
        ['bob', 'direct', 3, 1],
        [GROUP, 'group', 1, 0],
        ['dave', 'direct', 0, 0],
      ],
    );
  });

  it('skips local settings, bad names and entries over the bounds, and applies the rest', async () => {
    const companion = newStore();
    await companion.settings.put('pin', encoder.encode('the companion’s own'));
    const state = create(BootstrapStateSchema, {
      contacts: ['alice', 'Not A Name', 'x', 'dave'],
      readStates: [
        { chat: '../etc', lastReadAt: 5n },
        { chat: 'bob', lastReadAt: 2n ** 63n },
        { chat: 'carol', lastReadAt: BigInt(T0) },
      ],
      settings: {
        pin: encoder.encode('overwritten'),
        'history-import': Uint8Array.of(1),
        [`${SHARED_SETTING_PREFIX}big`]: new Uint8Array(BOOTSTRAP_LIMITS.settingBytes + 1),
        [`${SHARED_SETTING_PREFIX}ok`]: Uint8Array.of(1),
      },
    });
    const applied = await companion.transaction((tx) => applyBootstrap(tx, state, 'alice'));
    // alice (self) and two bad names; two bad read states; pin,
    // history-import and the oversized one.
    assert.deepEqual(applied, {
      contacts: 1,
      readChats: 1,
      markedRead: 0,
      settings: 1,
      skipped: 8,
    });
    assert.deepEqual(await companion.contacts.list(), ['dave']);
    assert.deepEqual(await companion.settings.get('pin'), encoder.encode('the companion’s own'));
    assert.equal(await companion.settings.get('history-import'), undefined);
    assert.equal(await companion.settings.get(`${SHARED_SETTING_PREFIX}big`), undefined);
    assert.deepEqual(await companion.settings.get(`${SHARED_SETTING_PREFIX}ok`), Uint8Array.of(1));

    // Over the bound: the first LIMIT contacts are kept, the rest counted.
    const many = Array.from(
      { length: BOOTSTRAP_LIMITS.contacts + 2 },
      (_, i) => `c${String(i).padStart(5, '0')}`,
    );
    const bounded = await companion.transaction((tx) =>
      applyBootstrap(tx, create(BootstrapStateSchema, { contacts: many }), 'alice'),
    );
    assert.equal(bounded.contacts, BOOTSTRAP_LIMITS.contacts);
    assert.equal(bounded.skipped, 2);
    assert.equal(await companion.contacts.has(many.at(-1) ?? ''), false);
  });
});
