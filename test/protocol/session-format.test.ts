/**
 * Format vectors: a fully deterministic run (seeded randomness, fixed clock)
 * whose serialized messages and records are pinned, so any accidental change
 * to a wire or storage format fails here. Also checks the hand-written codec
 * against the code `buf generate` makes from proto/quintet/protocol/*.proto.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  PreKeyRecordStructureSchema,
  RecordStructureSchema,
  SignedPreKeyRecordStructureSchema,
} from '../../src/gen/quintet/protocol/session_storage_pb.js';
import {
  PreKeySignalMessageSchema,
  SignalMessageSchema,
} from '../../src/gen/quintet/protocol/whisper_text_pb.js';
import { PreKeyRecord, SignedPreKeyRecord } from '../../src/protocol/prekey-records.js';
import { PreKeySignalMessage } from '../../src/protocol/prekey-signal-message.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher } from '../../src/protocol/session-cipher.js';
import { SessionRecord } from '../../src/protocol/session-record.js';
import { MAC_LENGTH, SignalMessage } from '../../src/protocol/signal-message.js';
import { makeParty, seededRandom, utf8 } from './session-helpers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function deterministicRun(): Promise<{
  prekeyMessage: Uint8Array;
  signalMessage: Uint8Array;
  aliceRecord: Uint8Array;
  bobRecord: Uint8Array;
  preKey: Uint8Array;
  signedPreKey: Uint8Array;
}> {
  const a = await makeParty('alice', 1, seededRandom('vector-alice'));
  const b = await makeParty('bob', 2, seededRandom('vector-bob'));
  await processPreKeyBundle(a.ctx, a.stores, b.address, await b.bundle());
  const ab = new SessionCipher(a.ctx, a.stores, b.address);
  const ba = new SessionCipher(b.ctx, b.stores, a.address);
  const first = await ab.encrypt(utf8('vector one'));
  await ba.decryptPreKeySignalMessage(first.body);
  const reply = await ba.encrypt(utf8('vector two'));
  await ab.decryptSignalMessage(reply.body);
  const aliceRecord = (await a.stores.sessions.loadSession(b.address))?.serialize();
  const bobRecord = (await b.stores.sessions.loadSession(a.address))?.serialize();
  const preKey = (await b.stores.preKeys.loadPreKey(2))?.serialize();
  const signedPreKey = (await b.stores.signedPreKeys.loadSignedPreKey(1))?.serialize();
  assert.ok(aliceRecord && bobRecord && preKey && signedPreKey);
  return {
    prekeyMessage: first.body,
    signalMessage: reply.body,
    aliceRecord,
    bobRecord,
    preKey,
    signedPreKey,
  };
}

describe('format vectors', () => {
  it('pins the serialized messages and records of a deterministic run', async () => {
    const run = await deterministicRun();
    const again = await deterministicRun();
    assert.deepEqual(again, run, 'the run is deterministic');
    assert.equal(hex(run.signalMessage), EXPECTED.signalMessage);
    assert.equal(sha(run.prekeyMessage), EXPECTED.prekeyMessageSha256);
    assert.equal(sha(run.aliceRecord), EXPECTED.aliceRecordSha256);
    assert.equal(sha(run.bobRecord), EXPECTED.bobRecordSha256);
    assert.equal(sha(run.preKey), EXPECTED.preKeySha256);
    assert.equal(sha(run.signedPreKey), EXPECTED.signedPreKeySha256);
  });

  it('matches the .proto definitions (checked with the generated @bufbuild/protobuf code)', async () => {
    const run = await deterministicRun();
    const sm = fromBinary(
      SignalMessageSchema,
      run.signalMessage.subarray(1, run.signalMessage.length - MAC_LENGTH),
    );
    const parsed = SignalMessage.deserialize(run.signalMessage);
    assert.deepEqual(sm.ratchetKey, parsed.senderRatchetKeyBytes);
    assert.equal(sm.counter, parsed.counter);
    assert.equal(sm.previousCounter, parsed.previousCounter);
    assert.deepEqual(sm.ciphertext, parsed.ciphertext);

    const pk = fromBinary(PreKeySignalMessageSchema, run.prekeyMessage.subarray(1));
    const pkParsed = PreKeySignalMessage.deserialize(run.prekeyMessage);
    assert.equal(pk.preKeyId, pkParsed.preKeyId);
    assert.equal(pk.signedPreKeyId, pkParsed.signedPreKeyId);
    assert.equal(pk.registrationId, pkParsed.registrationId);
    assert.deepEqual(pk.baseKey, pkParsed.baseKey.serialize());
    assert.deepEqual(pk.identityKey, pkParsed.identityKey.serialize());
    assert.deepEqual(pk.message, pkParsed.message.serialized);

    for (const bytes of [run.aliceRecord, run.bobRecord]) {
      const viaSchema = fromBinary(RecordStructureSchema, bytes);
      const ours = SessionRecord.deserialize(bytes);
      const current = ours.current;
      assert.ok(current !== undefined && viaSchema.currentSession !== undefined);
      assert.equal(viaSchema.format, 1);
      assert.deepEqual(viaSchema.currentSession.rootKey, current.rootKey);
      assert.deepEqual(viaSchema.currentSession.aliceBaseKey, current.aliceBaseKey);
      assert.equal(viaSchema.currentSession.receiverChains.length, current.receiverChains.length);
      assert.deepEqual(
        viaSchema.currentSession.senderChain?.chainKey?.key,
        current.senderChain?.chainKey.key,
      );
      // Bytes written by the generated encoder read back to the same record.
      const reencoded = toBinary(RecordStructureSchema, viaSchema);
      assert.deepEqual(SessionRecord.deserialize(reencoded).serialize(), bytes);
    }
    const pre = fromBinary(PreKeyRecordStructureSchema, run.preKey);
    assert.equal(pre.id, PreKeyRecord.deserialize(run.preKey).id);
    const spk = fromBinary(SignedPreKeyRecordStructureSchema, run.signedPreKey);
    const spkOurs = SignedPreKeyRecord.deserialize(run.signedPreKey);
    assert.equal(Number(spk.timestamp), spkOurs.timestamp);
    assert.deepEqual(spk.signature, spkOurs.signature);
    assert.deepEqual(
      SignedPreKeyRecord.deserialize(toBinary(SignedPreKeyRecordStructureSchema, spk)).serialize(),
      run.signedPreKey,
    );
  });
});

// Regenerate only for an intended format change, and say so in the commit.
const EXPECTED = {
  signalMessage:
    '330a210564891abe0b7a95b84762598edb43f4f0163ef3fefec3e4c36292e4fc3ce685271000180022100b080235ac95585310a164d3ede7fedac56399e65085d69b',
  prekeyMessageSha256: 'becfade2cff5a6a72088b044eee1f211ed2d142f7c2ad1a5ed2556bef8e931eb',
  aliceRecordSha256: '330dd0c45eb55e40496bd9b72f58dfcd32c1b481df7037263d857811ed463ca3',
  bobRecordSha256: '9feda465696dc06f3d53dd2141d86407a4882d875a627b14ef2022b8d1c09872',
  preKeySha256: '2a24ec425910c98942989f03fa8edaa9d5225d4e6030c9917d2f9c5d50e246ff',
  signedPreKeySha256: 'd83295d22236a9608434e505b42b40b8ee4b5c7fbc619b779c48a02898142bc0',
};
