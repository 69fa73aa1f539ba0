/**
 * Property and fuzz tests for Sender Keys: any delivery order decrypts each
 * message exactly once, and any hostile bytes — random or a mutated valid
 * message — end in a `ProtocolError` with the store left unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  createSenderKeyDistributionMessage,
  groupDecrypt,
  groupEncrypt,
  processSenderKeyDistributionMessage,
} from '../../src/protocol/group-cipher.js';
import {
  SenderKeyDistributionMessage,
  SenderKeyMessage,
} from '../../src/protocol/sender-key-messages.js';
import { SenderKeyRecord } from '../../src/protocol/sender-key-record.js';
import { MemorySenderKeyStore } from '../../src/protocol/stores/sender-key-store.js';

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};
const alice = protocolAddress('alice', 1);
const DIST = '3c2b1a09-8f7e-4d6c-9b5a-493827160504';

/** Asserts `run` either succeeds or fails with a ProtocolError; returns whether it failed. */
async function failsTyped(run: () => unknown): Promise<boolean> {
  try {
    await run();
    return false;
  } catch (err) {
    assert.ok(
      ProtocolError.is(err),
      `expected a ProtocolError, got ${err instanceof Error ? err.stack : String(err)}`,
    );
    return true;
  }
}

/** One sender chain shared by the fuzz cases, with a pool of valid messages. */
async function fixture(count: number) {
  const senderStore = new MemorySenderKeyStore();
  const receiverStore = new MemorySenderKeyStore();
  const skdm = await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST);
  await processSenderKeyDistributionMessage(ctx, receiverStore, alice, skdm);
  const messages: Uint8Array[] = [];
  for (let i = 0; i < count; i++)
    messages.push(await groupEncrypt(ctx, senderStore, alice, DIST, Uint8Array.of(i, i, i)));
  return { senderStore, receiverStore, skdm, messages };
}

/** A byte-level mutation of a valid input. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(input: Uint8Array, m: Mutation): Uint8Array {
  const at = m.at % (input.length + 1);
  switch (m.kind) {
    case 'flip': {
      const out = input.slice();
      const index = at % input.length;
      out[index] = (out[index] ?? 0) ^ (1 << m.bit);
      return out;
    }
    case 'truncate':
      return input.subarray(0, at % input.length);
    case 'insert':
      return Uint8Array.from([...input.subarray(0, at), ...m.bytes, ...input.subarray(at)]);
    case 'set': {
      const out = input.slice();
      out[at % input.length] = m.value;
      return out;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

describe('group cipher properties', () => {
  it('any delivery order, with redeliveries, decrypts each message exactly once', async () => {
    await checkProperty(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 25 }).chain((count) =>
          fc.tuple(
            fc.constant(count),
            fc.shuffledSubarray(
              Array.from({ length: count }, (_, i) => i),
              { minLength: count, maxLength: count },
            ),
            fc.array(fc.nat({ max: count - 1 }), { maxLength: 5 }),
          ),
        ),
        async ([count, order, redeliveries]) => {
          const { receiverStore, messages } = await fixture(count);
          const deliveries = [...order];
          for (const [k, index] of redeliveries.entries())
            deliveries.splice((k * 7) % (deliveries.length + 1), 0, index);
          const seen = new Set<number>();
          for (const index of deliveries) {
            const message = messages[index];
            assert.ok(message !== undefined);
            if (seen.has(index)) {
              await assert.rejects(
                groupDecrypt(ctx, receiverStore, alice, message),
                (err: unknown) => ProtocolError.is(err, 'duplicate-message'),
              );
            } else {
              assert.deepEqual(
                await groupDecrypt(ctx, receiverStore, alice, message),
                Uint8Array.of(index, index, index),
              );
              seen.add(index);
            }
          }
          assert.equal(seen.size, count);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('mutated group messages are rejected with a ProtocolError and change nothing', async () => {
    const { receiverStore, messages } = await fixture(4);
    await checkProperty(
      fc.asyncProperty(fc.nat({ max: 3 }), mutation, async (index, m) => {
        const original = messages[index];
        assert.ok(original !== undefined);
        const bad = mutate(original, m);
        if (sameBytes(bad, original)) return;
        const before = receiverStore.snapshot();
        assert.ok(
          await failsTyped(() => groupDecrypt(ctx, receiverStore, alice, bad)),
          'a mutated message decrypted',
        );
        assert.deepEqual(receiverStore.snapshot(), before);
        // The decoder alone also fails typed or parses; never anything else.
        await failsTyped(() => SenderKeyMessage.deserialize(bad));
      }),
      { numRuns: 400 },
    );
    // The untouched messages still decrypt afterwards.
    for (const [i, message] of messages.entries()) {
      assert.deepEqual(
        await groupDecrypt(ctx, receiverStore, alice, message),
        Uint8Array.of(i, i, i),
      );
    }
  });

  it('random bytes into every decoder and groupDecrypt fail typed and change nothing', async () => {
    const { receiverStore } = await fixture(1);
    const prefixed = fc.tuple(
      fc.constantFrom(0x33, 0x23, 0x43, 0x03, 0xff),
      fc.uint8Array({ maxLength: 200 }),
    );
    await checkProperty(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          prefixed.map(([v, rest]) => Uint8Array.of(v, ...rest)),
        ),
        async (bytes) => {
          const before = receiverStore.snapshot();
          await failsTyped(() => SenderKeyMessage.deserialize(bytes));
          await failsTyped(() => SenderKeyDistributionMessage.deserialize(bytes));
          await failsTyped(() => SenderKeyRecord.deserialize(bytes));
          assert.ok(await failsTyped(() => groupDecrypt(ctx, receiverStore, alice, bytes)));
          assert.deepEqual(receiverStore.snapshot(), before);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('mutated distribution messages either apply cleanly or fail typed without a change', async () => {
    const { skdm } = await fixture(0);
    await checkProperty(
      fc.asyncProperty(mutation, async (m) => {
        const store = new MemorySenderKeyStore();
        const bad = mutate(skdm, m);
        const failed = await failsTyped(() =>
          processSenderKeyDistributionMessage(ctx, store, alice, bad),
        );
        if (failed) assert.equal(store.size, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('mutated stored records fail typed (invalid-state) or load', async () => {
    const { receiverStore, senderStore } = await fixture(3);
    const records = [
      (await receiverStore.loadSenderKey(alice, DIST))?.serialize(),
      (await senderStore.loadSenderKey(alice, DIST))?.serialize(),
    ].flatMap((r) => (r === undefined ? [] : [r]));
    await checkProperty(
      fc.asyncProperty(fc.nat({ max: records.length - 1 }), mutation, async (index, m) => {
        const bytes = mutate(records[index] ?? new Uint8Array(), m);
        try {
          SenderKeyRecord.deserialize(bytes);
        } catch (err) {
          assert.ok(
            ProtocolError.is(err, 'invalid-state'),
            `expected invalid-state, got ${String(err)}`,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
