/**
 * Bad input for the chat-event decoders (chat/chat-content.ts via
 * content.ts) and the chat-state records: every malformed or oversized
 * field is a typed error (`invalid-content`, `invalid-record`), and fuzzed
 * bytes never throw anything else nor crash the apply.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { DataMessageSchema } from '../../../src/gen/quintet/v1/content_pb.js';
import { ContentSchema } from '../../../src/gen/quintet/v1/content_pb.js';
import { StoredMessageRecordSchema } from '../../../src/gen/quintet/v1/client_store_pb.js';
import { parseContent } from '../../../src/client/core/content.js';
import { ClientError } from '../../../src/client/core/errors.js';
import { applyChatData } from '../../../src/client/core/chat/chat-apply.js';
import { DEFAULT_CHAT_RULES } from '../../../src/client/core/chat/chat-rules.js';
import { createDeviceStore } from '../../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../../src/client/core/store/memory-backend.js';
import { TABLES } from '../../../src/client/core/store/client-stores.js';
import { decodeStoredMessage } from '../../../src/client/core/store/records.js';
import { checkProperty } from '../../property.js';
import { T0, idOf } from './chat-helpers.js';

type DataInit = MessageInitShape<typeof DataMessageSchema>;

function dataBytes(init: DataInit): Uint8Array {
  return toBinary(
    ContentSchema,
    create(ContentSchema, { body: { case: 'dataMessage', value: init } }),
  );
}

function assertInvalid(bytes: Uint8Array, what: string): void {
  assert.throws(
    () => parseContent(bytes),
    (error: unknown) => ClientError.is(error, 'invalid-content'),
    what,
  );
}

const target = { author: 'alice', messageId: idOf(1) };
const base = { messageId: idOf(2), timestamp: BigInt(T0) };

describe('chat event decoding', () => {
  it('accepts well-formed events', () => {
    for (const init of [
      { ...base, event: { case: 'reaction', value: { target, emoji: '👍' } } },
      { ...base, event: { case: 'reaction', value: { target, remove: true } } },
      { ...base, event: { case: 'edit', value: { target, text: 'new' } } },
      { ...base, event: { case: 'delete', value: { target } } },
      { ...base, event: { case: 'timerChange', value: { seconds: 604_800 } } },
      { ...base, text: 're', quote: { target, snippet: 'earlier' }, expireTimer: 86_400 },
    ] as DataInit[]) {
      assert.equal(parseContent(dataBytes(init)).body.case, 'dataMessage');
    }
  });

  it('refuses malformed and oversized fields with invalid-content', () => {
    const cases: Array<[string, DataInit]> = [
      [
        'short target id',
        {
          ...base,
          event: {
            case: 'delete',
            value: { target: { author: 'alice', messageId: new Uint8Array(15) } },
          },
        },
      ],
      ['no target', { ...base, event: { case: 'edit', value: { text: 'x' } } }],
      [
        'empty author',
        {
          ...base,
          event: { case: 'delete', value: { target: { author: '', messageId: idOf(1) } } },
        },
      ],
      [
        'long author',
        {
          ...base,
          event: {
            case: 'delete',
            value: { target: { author: 'a'.repeat(65), messageId: idOf(1) } },
          },
        },
      ],
      ['empty emoji', { ...base, event: { case: 'reaction', value: { target, emoji: '' } } }],
      [
        'oversized emoji',
        { ...base, event: { case: 'reaction', value: { target, emoji: '👍'.repeat(17) } } },
      ],
      [
        'removal with emoji',
        { ...base, event: { case: 'reaction', value: { target, emoji: '👍', remove: true } } },
      ],
      ['timer not allowed', { ...base, event: { case: 'timerChange', value: { seconds: 3600 } } }],
      ['carried timer over 90 d', { ...base, text: 'x', expireTimer: 90 * 86_400 + 1 }],
      [
        'event with text',
        { ...base, text: 'smuggled', event: { case: 'delete', value: { target } } },
      ],
      [
        'event with quote',
        { ...base, quote: { target, snippet: '' }, event: { case: 'delete', value: { target } } },
      ],
      [
        'quote without id',
        { ...base, text: 'x', quote: { target: { author: 'alice' }, snippet: '' } },
      ],
      ['long snippet', { ...base, text: 'x', quote: { target, snippet: 's'.repeat(1001) } }],
    ];
    for (const [what, init] of cases) assertInvalid(dataBytes(init), what);
  });

  it('refuses malformed delete-for-me syncs', () => {
    const sync = (targets: Array<{ author: string; messageId: Uint8Array }>, chat = 'bob') =>
      toBinary(
        ContentSchema,
        create(ContentSchema, {
          body: {
            case: 'syncMessage',
            value: { body: { case: 'deleteForMe', value: { chat, targets, timestamp: 1n } } },
          },
        }),
      );
    assert.equal(parseContent(sync([target])).body.case, 'syncMessage');
    assertInvalid(sync([]), 'no targets');
    assertInvalid(sync(Array.from({ length: 101 }, () => target)), '101 targets');
    assertInvalid(sync([target], ''), 'no chat');
    assertInvalid(sync([{ author: 'alice', messageId: new Uint8Array(3) }]), 'short id');
  });

  it('never throws anything but a typed error on mutated event bytes, nor in the apply', async () => {
    const seeds = [
      dataBytes({ ...base, event: { case: 'reaction', value: { target, emoji: '👍' } } }),
      dataBytes({ ...base, event: { case: 'edit', value: { target, text: 'new text' } } }),
      dataBytes({ ...base, text: 'hi', quote: { target, snippet: 'q' }, expireTimer: 86_400 }),
      dataBytes({ ...base, event: { case: 'timerChange', value: { seconds: 86_400 } } }),
    ];
    await checkProperty(
      fc.asyncProperty(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        async (seed, flips) => {
          const bytes = seed.slice();
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          let content;
          try {
            content = parseContent(bytes);
          } catch (error) {
            assert.ok(ClientError.is(error, 'invalid-content'), String(error));
            return;
          }
          if (content.body.case !== 'dataMessage') return;
          const store = createDeviceStore(new MemoryBackend());
          const origin = { chat: 'alice', sender: 'alice', senderDevice: 1, outgoing: false };
          const env = { now: T0, rules: DEFAULT_CHAT_RULES };
          await applyChatData(store, origin, content.body.value, env);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('chat state records', () => {
  it('refuses an unknown deletion state and damaged pending events with invalid-record', async () => {
    const bad = toBinary(
      StoredMessageRecordSchema,
      create(StoredMessageRecordSchema, { messageId: idOf(1), chat: 'bob', deleted: 9 }),
    );
    assert.throws(
      () => decodeStoredMessage(bad),
      (error: unknown) => ClientError.is(error, 'invalid-record'),
    );
    const backend = new MemoryBackend();
    const store = createDeviceStore(backend);
    await backend.commit([
      {
        table: TABLES.chatPending,
        key: `bob/${'00'.repeat(16)}/x`,
        value: new Uint8Array([0xff, 0xff]),
      },
    ]);
    await assert.rejects(store.chat.takePending('bob', new Uint8Array(16)), (error: unknown) =>
      ClientError.is(error, 'invalid-record'),
    );
    await backend.commit([{ table: TABLES.chatTimer, key: 'bob', value: new Uint8Array([0x0a]) }]);
    await assert.rejects(store.chat.timer('bob'), (error: unknown) =>
      ClientError.is(error, 'invalid-record'),
    );
  });
});
