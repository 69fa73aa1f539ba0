/**
 * Fuzzing every 1:1 decoder and both decrypt entry points with random and
 * mutated bytes: the only acceptable failure is a `ProtocolError`, nothing
 * hangs, and a failed decryption leaves every store byte-for-byte unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { bytesEqual } from '../../src/protocol/bytes.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { PreKeyRecord, SignedPreKeyRecord } from '../../src/protocol/prekey-records.js';
import { PreKeySignalMessage } from '../../src/protocol/prekey-signal-message.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher } from '../../src/protocol/session-cipher.js';
import { SessionRecord } from '../../src/protocol/session-record.js';
import { SessionState } from '../../src/protocol/session-state.js';
import { SignalMessage } from '../../src/protocol/signal-message.js';
import { makeParty, snapshotStores, utf8 } from './session-helpers.js';

/** One edit to a byte string. */
type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; value: number }
  | { kind: 'delete'; at: number }
  | { kind: 'truncate'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Array.from(input);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    switch (m.kind) {
      case 'flip':
        if (bytes.length > 0) bytes[at] = (bytes[at] ?? 0) ^ (1 << m.bit);
        break;
      case 'set':
        if (bytes.length > 0) bytes[at] = m.value;
        break;
      case 'insert':
        bytes.splice(at, 0, m.value);
        break;
      case 'delete':
        bytes.splice(at, 1);
        break;
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
    }
  }
  return Uint8Array.from(bytes);
}

/** Calls `f`; passes on success or a ProtocolError, fails on anything else. */
function onlyProtocolErrors(f: () => unknown): void {
  try {
    f();
  } catch (error) {
    assert.ok(ProtocolError.is(error), `unexpected ${String(error)}`);
  }
}

async function fixtures(): Promise<{
  decoders: Array<[string, (b: Uint8Array) => unknown, Uint8Array]>;
  prekeyBody: Uint8Array;
  signalBody: Uint8Array;
  receiver: Awaited<ReturnType<typeof makeParty>>;
  cipher: SessionCipher;
}> {
  const a = await makeParty('alice');
  const b = await makeParty('bob');
  await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle());
  const ab = new SessionCipher(a.ctx, a.stores, b.address);
  const ba = new SessionCipher(b.ctx, b.stores, a.address);
  const prekey = await ab.encrypt(utf8('first'));
  await ba.decryptPreKeySignalMessage(prekey.body);
  await ab.decryptSignalMessage((await ba.encrypt(utf8('reply'))).body);
  const signal = await ab.encrypt(utf8('pending'));
  const record = await a.stores.sessions.loadSession(b.address);
  const state = record?.current;
  const preKey = await b.stores.preKeys.loadPreKey(5);
  const signed = await b.stores.signedPreKeys.loadSignedPreKey(1);
  assert.ok(record && state && preKey && signed);
  return {
    decoders: [
      ['SignalMessage', (x) => SignalMessage.deserialize(x), signal.body],
      ['PreKeySignalMessage', (x) => PreKeySignalMessage.deserialize(x), prekey.body],
      ['SessionRecord', (x) => SessionRecord.deserialize(x), record.serialize()],
      ['SessionState', (x) => SessionState.deserialize(x), state.serialize()],
      ['PreKeyRecord', (x) => PreKeyRecord.deserialize(x), preKey.serialize()],
      ['SignedPreKeyRecord', (x) => SignedPreKeyRecord.deserialize(x), signed.serialize()],
    ],
    prekeyBody: prekey.body,
    signalBody: signal.body,
    receiver: b,
    cipher: ba,
  };
}

describe('decoder fuzzing', { timeout: 120_000 }, () => {
  it('random bytes into every decoder: ProtocolError or a value, never a crash', async () => {
    const { decoders } = await fixtures();
    for (const [, decode] of decoders) {
      checkProperty(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) =>
          onlyProtocolErrors(() => decode(bytes)),
        ),
        { numRuns: 500 },
      );
      // A valid version byte gets random bytes past the first check.
      checkProperty(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) =>
          onlyProtocolErrors(() => decode(Uint8Array.from([0x33, ...bytes]))),
        ),
        { numRuns: 300 },
      );
    }
  });

  it('mutated valid encodings into every decoder', async () => {
    const { decoders } = await fixtures();
    for (const [, decode, valid] of decoders) {
      decode(valid); // the unmutated input parses
      checkProperty(
        fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (mutations) =>
          onlyProtocolErrors(() => decode(mutate(valid, mutations))),
        ),
        { numRuns: 400 },
      );
    }
  });

  it('mutated messages into decrypt: typed errors, stores unchanged, original still decrypts', async () => {
    const { prekeyBody, signalBody, receiver, cipher } = await fixtures();
    const before = snapshotStores(receiver.stores);
    await checkProperty(
      fc.asyncProperty(
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (mutations, prekey) => {
          const original = prekey ? prekeyBody : signalBody;
          const body = mutate(original, mutations);
          // A `set` to the byte already there leaves the message intact; that
          // one is supposed to decrypt, so it is not a mutation to test.
          fc.pre(!bytesEqual(body, original));
          const run = prekey
            ? cipher.decryptPreKeySignalMessage(body)
            : cipher.decryptSignalMessage(body);
          await run.then(
            () => assert.fail('a mutated message must not decrypt'),
            (error: unknown) => assert.ok(ProtocolError.is(error), `unexpected ${String(error)}`),
          );
          assert.equal(snapshotStores(receiver.stores), before);
        },
      ),
      { numRuns: 300 },
    );
    await checkProperty(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.boolean(), async (bytes, prekey) => {
        const run = prekey
          ? cipher.decryptPreKeySignalMessage(bytes)
          : cipher.decryptSignalMessage(bytes);
        await run.then(
          () => assert.fail('random bytes must not decrypt'),
          (error: unknown) => assert.ok(ProtocolError.is(error), `unexpected ${String(error)}`),
        );
      }),
      { numRuns: 300 },
    );
    assert.equal(snapshotStores(receiver.stores), before);
    assert.equal(
      new TextDecoder().decode(await cipher.decryptSignalMessage(signalBody)),
      'pending',
    );
  });
});
