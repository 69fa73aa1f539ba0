/**
 * The persisted sender key record: a snapshot of its exact bytes (an
 * accidental format change must fail here), a cross-check of the hand-written
 * codec against the schema `buf generate` makes from sender-keys.proto, and
 * typed failures for corrupt records.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  SenderKeyDistributionMessageWireSchema,
  SenderKeyMessageWireSchema,
  SenderKeyRecordDataSchema,
} from '../../src/gen/quintet/protocol/sender-keys_pb.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock, type RandomSource } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { sign } from '../../src/protocol/curve.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  createSenderKeyDistributionMessage,
  groupDecrypt,
  groupEncrypt,
  processSenderKeyDistributionMessage,
} from '../../src/protocol/group-cipher.js';
import { SenderKeyRecord } from '../../src/protocol/sender-key-record.js';
import { SENDER_KEY_SIGNATURE_LENGTH } from '../../src/protocol/sender-key-messages.js';
import { MemorySenderKeyStore } from '../../src/protocol/stores/sender-key-store.js';

function seededRandom(label: string): RandomSource {
  let counter = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 32) {
      const block = createHash('sha256').update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    }
    return out;
  };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const alice = protocolAddress('alice', 1);
const DIST = '5f0c1e2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f';

/** A fixed scenario: Alice sends three messages; Bob gets the third first. */
async function scenario() {
  const ctx: ProtocolContext = {
    crypto: nodeCrypto,
    random: seededRandom('snapshot'),
    clock: systemClock,
  };
  const senderStore = new MemorySenderKeyStore();
  const receiverStore = new MemorySenderKeyStore();
  const skdm = await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST);
  await processSenderKeyDistributionMessage(ctx, receiverStore, alice, skdm);
  const messages: Uint8Array[] = [];
  for (const word of ['one', 'two', 'three']) {
    messages.push(
      await groupEncrypt(ctx, senderStore, alice, DIST, new TextEncoder().encode(word)),
    );
  }
  await groupDecrypt(ctx, receiverStore, alice, messages[2] ?? new Uint8Array());
  const sender = await senderStore.loadSenderKey(alice, DIST);
  const receiver = await receiverStore.loadSenderKey(alice, DIST);
  assert.ok(sender !== undefined && receiver !== undefined);
  return { skdm, messages, sender: sender.serialize(), receiver: receiver.serialize() };
}

/*
 * Expected bytes. Everything is deterministic: the random source is fixed and
 * Ed25519 signatures are deterministic (RFC 8032). If one of these changes,
 * the persisted or wire format changed: that needs a format version bump and
 * a migration, not a new snapshot.
 */
const SNAPSHOT = {
  skdm: '330a105f0c1e2d3b4a4c5d8e6f7a8b9c0d1e2f10b5fcea81071800222010f1baeec9844ddc01fa9d314b8cf50347c60de7ea8366a6f2a640a1b12710b82a210515261ae7e27042c65d8cc85bc8c46d2849bd43bfc599a682d2069b13163c6e75',
  firstMessage:
    '330a105f0c1e2d3b4a4c5d8e6f7a8b9c0d1e2f10b5fcea8107180022104d68b6eb194e6ad27ce2c732fc656efc9c9d20e70f8a11c347e452fd04b391e3acffb3270813d35d4f3e5ca0895078acb07c506abecc7cfe7c8749564808b7eb81262aefbc012e32d433a927392df38d',
  sender:
    '08011272080310b5fcea8107180322202518e7d953e2548cd691c26d04ba0232b1d7a5481db9e5c5db564b85cf0e69e72a210515261ae7e27042c65d8cc85bc8c46d2849bd43bfc599a682d2069b13163c6e75322102117e7e7063197c30d0ef5145199d84efbd693febce80bdefd868041d15ad42ed',
  receiver:
    '0801129901080310b5fcea8107180322202518e7d953e2548cd691c26d04ba0232b1d7a5481db9e5c5db564b85cf0e69e72a210515261ae7e27042c65d8cc85bc8c46d2849bd43bfc599a682d2069b13163c6e753a480000000021fccfaf4da990d1908b5b12fb9a3352195a7fa47b912cba3762e3a2930b98df00000001e1c0d0c3f2e1afdcf474472d530a132ab02a9663e2eca1a2ff1917a3be22b106',
};

describe('sender key record', () => {
  it('matches the snapshot of its persisted bytes and of the wire messages', async () => {
    const { skdm, messages, sender, receiver } = await scenario();
    const actual = {
      skdm: hex(skdm),
      firstMessage: hex(messages[0] ?? new Uint8Array()),
      sender: hex(sender),
      receiver: hex(receiver),
    };
    if (process.env['PRINT_SNAPSHOT'] === '1') console.log(JSON.stringify(actual, null, 2));
    assert.deepEqual(actual, SNAPSHOT);
  });

  it('encodes exactly what the generated protobuf schema encodes', async () => {
    const { skdm, messages, sender, receiver } = await scenario();
    for (const record of [sender, receiver]) {
      const viaSchema = toBinary(
        SenderKeyRecordDataSchema,
        fromBinary(SenderKeyRecordDataSchema, record),
      );
      assert.deepEqual(viaSchema, record);
    }
    const receiverData = fromBinary(SenderKeyRecordDataSchema, receiver);
    assert.equal(receiverData.formatVersion, 1);
    assert.equal(receiverData.states.length, 1);
    assert.equal(receiverData.states[0]?.chainIteration, 3);
    assert.equal(receiverData.states[0]?.skippedKeys.length, 2 * 36);
    assert.equal(receiverData.states[0]?.signingPrivate.length, 0);
    const senderData = fromBinary(SenderKeyRecordDataSchema, sender);
    assert.equal(senderData.states[0]?.signingPrivate.length, 33);

    const skdmWire = fromBinary(SenderKeyDistributionMessageWireSchema, skdm.subarray(1));
    assert.equal(skdmWire.iteration, 0, 'iteration 0 is present on the wire');
    assert.deepEqual(toBinary(SenderKeyDistributionMessageWireSchema, skdmWire), skdm.subarray(1));
    for (const message of messages) {
      const body = message.subarray(1, message.length - SENDER_KEY_SIGNATURE_LENGTH);
      assert.deepEqual(
        toBinary(SenderKeyMessageWireSchema, fromBinary(SenderKeyMessageWireSchema, body)),
        body,
      );
    }
  });

  it('round-trips through serialize/deserialize', async () => {
    const { sender, receiver } = await scenario();
    for (const bytes of [sender, receiver])
      assert.deepEqual(SenderKeyRecord.deserialize(bytes).serialize(), bytes);
  });

  it('never hands back a cached private key for different stored bytes', async () => {
    const { sender } = await scenario();
    const data = fromBinary(SenderKeyRecordDataSchema, sender);
    const state = data.states[0];
    assert.ok(state !== undefined);
    // Same public key, another (well-formed) private key: a cache keyed by
    // the public key must notice and not reuse the first key.
    const otherPrivate = state.signingPrivate.slice();
    otherPrivate[5] = (otherPrivate[5] ?? 0) ^ 0xff;
    const other = toBinary(SenderKeyRecordDataSchema, {
      ...data,
      states: [{ ...state, signingPrivate: otherPrivate }],
    });
    const message = new TextEncoder().encode('m');
    const signWith = async (bytes: Uint8Array): Promise<string> => {
      const key = SenderKeyRecord.deserialize(bytes).currentState()?.signingPrivate;
      assert.ok(key !== undefined);
      return hex(await sign(nodeCrypto, key, message, () => new Uint8Array(64)));
    };
    const first = await signWith(sender);
    assert.notEqual(await signWith(other), first);
    assert.equal(await signWith(sender), first);
    assert.deepEqual(SenderKeyRecord.deserialize(other).serialize(), other);
  });

  it('rejects corrupt records with invalid-state', async () => {
    const { sender, receiver } = await scenario();
    const data = fromBinary(SenderKeyRecordDataSchema, receiver);
    const variants: Uint8Array[] = [
      Uint8Array.of(0xff),
      sender.subarray(0, sender.length - 3),
      toBinary(SenderKeyRecordDataSchema, { ...data, formatVersion: 2 }),
      toBinary(SenderKeyRecordDataSchema, { ...data, formatVersion: 0 }),
      toBinary(SenderKeyRecordDataSchema, {
        ...data,
        states: Array.from({ length: 6 }, () => data.states[0]).flatMap((s) =>
          s === undefined ? [] : [s],
        ),
      }),
    ];
    const state = data.states[0];
    assert.ok(state !== undefined);
    for (const change of [
      { chainSeed: new Uint8Array(31) },
      { signingPublic: new Uint8Array(33) },
      { signingPrivate: new Uint8Array(5) },
      { skippedKeys: new Uint8Array(37) },
    ]) {
      variants.push(
        toBinary(SenderKeyRecordDataSchema, { ...data, states: [{ ...state, ...change }] }),
      );
    }
    for (const bytes of variants) {
      assert.throws(
        () => SenderKeyRecord.deserialize(bytes),
        (err: unknown) => ProtocolError.is(err, 'invalid-state'),
      );
    }
  });
});
