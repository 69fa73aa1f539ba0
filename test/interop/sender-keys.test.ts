/**
 * Sender Keys interop with @signalapp/libsignal-client (Signal's Rust
 * library): distribution messages and group messages made by either side are
 * accepted by the other, in and out of order, and the wire bytes agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Signal from '@signalapp/libsignal-client';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateSigningKeyPair, PublicKey, sign, verify } from '../../src/protocol/curve.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  createSenderKeyDistributionMessage,
  groupDecrypt,
  groupEncrypt,
  processSenderKeyDistributionMessage,
} from '../../src/protocol/group-cipher.js';
import { distributionId } from '../../src/protocol/sender-key-distribution-id.js';
import {
  SenderKeyDistributionMessage,
  SenderKeyMessage,
} from '../../src/protocol/sender-key-messages.js';
import { MemorySenderKeyStore } from '../../src/protocol/stores/sender-key-store.js';

/** libsignal-client's sender key store contract, in memory (serialized records). */
class LibsignalSenderKeyStore extends Signal.SenderKeyStore {
  readonly #records = new Map<string, Uint8Array<ArrayBuffer>>();

  async saveSenderKey(
    sender: Signal.ProtocolAddress,
    id: Signal.Uuid,
    record: Signal.SenderKeyRecord,
  ): Promise<void> {
    this.#records.set(`${sender.toString()}/${id}`, record.serialize());
  }

  async getSenderKey(
    sender: Signal.ProtocolAddress,
    id: Signal.Uuid,
  ): Promise<Signal.SenderKeyRecord | null> {
    const bytes = this.#records.get(`${sender.toString()}/${id}`);
    return bytes === undefined ? null : Signal.SenderKeyRecord.deserialize(bytes);
  }
}

/** libsignal-client wants `Uint8Array<ArrayBuffer>`; copy into one. */
const ab = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const flipBit = (bytes: Uint8Array, index: number): void => {
  bytes[index] = (bytes[index] ?? 0) ^ 1;
};

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};
const DIST = '8a1f0e52-77c4-4d1e-b3a9-0c6d5e4f3a21';
const quintetAlice = protocolAddress('alice', 2);
const signalAlice = Signal.ProtocolAddress.new('alice', 2);

/** A fixed permutation that mixes early, late and adjacent indexes. */
function scrambled(count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = (i * 7919 + 13) % (i + 1);
    [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
  }
  return order;
}

describe('sender keys interop with libsignal-client', () => {
  it('Quintet sender → libsignal-client receivers, in and out of order', async () => {
    const quintet = new MemorySenderKeyStore();
    const skdm = await createSenderKeyDistributionMessage(ctx, quintet, quintetAlice, DIST);
    const inOrder = new LibsignalSenderKeyStore();
    const outOfOrder = new LibsignalSenderKeyStore();
    for (const store of [inOrder, outOfOrder]) {
      await Signal.processSenderKeyDistributionMessage(
        signalAlice,
        Signal.SenderKeyDistributionMessage.deserialize(ab(skdm)),
        store,
      );
    }
    const cts: Uint8Array[] = [];
    for (let i = 0; i < 40; i++)
      cts.push(await groupEncrypt(ctx, quintet, quintetAlice, DIST, text(`q${i}`)));
    for (const [i, ct] of cts.entries()) {
      assert.equal(str(await Signal.groupDecrypt(signalAlice, inOrder, ab(ct))), `q${i}`);
    }
    for (const i of scrambled(cts.length)) {
      assert.equal(
        str(await Signal.groupDecrypt(signalAlice, outOfOrder, ab(cts[i] ?? new Uint8Array()))),
        `q${i}`,
      );
    }
    // libsignal refuses the replay of a message Quintet sent.
    await assert.rejects(
      Signal.groupDecrypt(signalAlice, outOfOrder, ab(cts[3] ?? new Uint8Array())),
      (err: unknown) =>
        err instanceof Signal.LibSignalErrorBase && err.code === Signal.ErrorCode.DuplicatedMessage,
    );
    // ... and a tampered one.
    const tampered = ab(await groupEncrypt(ctx, quintet, quintetAlice, DIST, text('t')));
    flipBit(tampered, tampered.length - 70);
    await assert.rejects(Signal.groupDecrypt(signalAlice, inOrder, tampered));
  });

  it('libsignal-client sender → Quintet receivers, in and out of order', async () => {
    const signal = new LibsignalSenderKeyStore();
    const skdm = (
      await Signal.SenderKeyDistributionMessage.create(signalAlice, DIST, signal)
    ).serialize();
    const inOrder = new MemorySenderKeyStore();
    const outOfOrder = new MemorySenderKeyStore();
    for (const store of [inOrder, outOfOrder]) {
      await processSenderKeyDistributionMessage(ctx, store, quintetAlice, skdm);
    }
    const cts: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      cts.push(
        (await Signal.groupEncrypt(signalAlice, DIST, signal, ab(text(`s${i}`)))).serialize(),
      );
    }
    for (const [i, ct] of cts.entries()) {
      assert.equal(str(await groupDecrypt(ctx, inOrder, quintetAlice, ct)), `s${i}`);
    }
    for (const i of scrambled(cts.length)) {
      assert.equal(
        str(await groupDecrypt(ctx, outOfOrder, quintetAlice, cts[i] ?? new Uint8Array())),
        `s${i}`,
      );
    }
    await assert.rejects(
      groupDecrypt(ctx, outOfOrder, quintetAlice, cts[5] ?? new Uint8Array()),
      (err: unknown) => ProtocolError.is(err, 'duplicate-message'),
    );
    const tampered = (
      await Signal.groupEncrypt(signalAlice, DIST, signal, ab(text('t')))
    ).serialize();
    flipBit(tampered, tampered.length - 70);
    await assert.rejects(groupDecrypt(ctx, inOrder, quintetAlice, tampered), (err: unknown) =>
      ProtocolError.is(err, 'invalid-signature'),
    );
  });

  it('a receiver that skipped ahead still gets earlier messages from both implementations', async () => {
    const signal = new LibsignalSenderKeyStore();
    const quintetReceiver = new MemorySenderKeyStore();
    const skdm = (
      await Signal.SenderKeyDistributionMessage.create(signalAlice, DIST, signal)
    ).serialize();
    await processSenderKeyDistributionMessage(ctx, quintetReceiver, quintetAlice, skdm);
    const cts: Uint8Array[] = [];
    for (let i = 0; i < 300; i++)
      cts.push(
        (await Signal.groupEncrypt(signalAlice, DIST, signal, ab(text(`${i}`)))).serialize(),
      );
    assert.equal(
      str(await groupDecrypt(ctx, quintetReceiver, quintetAlice, cts[299] ?? new Uint8Array())),
      '299',
    );
    assert.equal(
      str(await groupDecrypt(ctx, quintetReceiver, quintetAlice, cts[0] ?? new Uint8Array())),
      '0',
    );
    assert.equal(
      str(await groupDecrypt(ctx, quintetReceiver, quintetAlice, cts[150] ?? new Uint8Array())),
      '150',
    );
  });

  it('parsers agree on the fields of each other’s messages', async () => {
    const quintet = new MemorySenderKeyStore();
    const ours = await createSenderKeyDistributionMessage(ctx, quintet, quintetAlice, DIST);
    const theirsView = Signal.SenderKeyDistributionMessage.deserialize(ab(ours));
    const oursView = SenderKeyDistributionMessage.deserialize(ours);
    assert.equal(theirsView.distributionId(), oursView.distributionId);
    assert.equal(theirsView.chainId(), oursView.chainId);
    assert.equal(theirsView.iteration(), oursView.iteration);
    assert.deepEqual(new Uint8Array(theirsView.chainKey()), oursView.chainKey);

    await groupEncrypt(ctx, quintet, quintetAlice, DIST, text('a'));
    const message = await groupEncrypt(ctx, quintet, quintetAlice, DIST, text('b'));
    const theirsMessage = Signal.SenderKeyMessage.deserialize(ab(message));
    const oursMessage = SenderKeyMessage.deserialize(message);
    assert.equal(theirsMessage.distributionId(), oursMessage.distributionId);
    assert.equal(theirsMessage.chainId(), oursMessage.chainId);
    assert.equal(theirsMessage.iteration(), 1);
    assert.deepEqual(new Uint8Array(theirsMessage.ciphertext()), oursMessage.ciphertext);
    assert.ok(
      theirsMessage.verifySignature(
        Signal.PublicKey.deserialize(ab(oursView.signingKey.serialize())),
      ),
    );
  });

  it('both implementations serialize the same fields to the same bytes', async () => {
    const signingKey = Signal.PrivateKey.generate();
    const chainKey = nodeCrypto.randomBytes(32);
    for (const [chainId, iteration] of [
      [0, 0],
      [1, 0],
      [0x7fffffff, 12345],
      [0xffffffff, 0xfffffffe],
    ] as const) {
      const theirs = Signal.SenderKeyDistributionMessage._new(
        3,
        DIST,
        chainId,
        iteration,
        ab(chainKey),
        signingKey.getPublicKey(),
      );
      const ours = SenderKeyDistributionMessage.create({
        messageVersion: 3,
        distributionId: distributionId(DIST),
        chainId,
        iteration,
        chainKey,
        signingKey: PublicKey.deserialize(signingKey.getPublicKey().serialize()),
      });
      assert.deepEqual(ours.serialized, new Uint8Array(theirs.serialize()));

      const ciphertext = nodeCrypto.randomBytes(48);
      const theirMessage = Signal.SenderKeyMessage._new(
        3,
        DIST,
        chainId,
        iteration,
        ab(ciphertext),
        signingKey,
      ).serialize();
      const unsigned = SenderKeyMessage.encodeUnsigned({
        messageVersion: 3,
        distributionId: distributionId(DIST),
        chainId,
        iteration,
        ciphertext,
      });
      assert.deepEqual(
        unsigned,
        new Uint8Array(theirMessage.subarray(0, theirMessage.length - 64)),
      );
      // libsignal signs with a raw Curve25519 scalar (XEdDSA); Quintet verifies it.
      const parsed = SenderKeyMessage.deserialize(theirMessage);
      const publicKey = PublicKey.deserialize(signingKey.getPublicKey().serialize());
      assert.ok(await verify(nodeCrypto, publicKey, parsed.signedContent, parsed.signature));
    }
  });

  it('Quintet signatures (native Ed25519 seed keys) verify in libsignal-client', async () => {
    const pair = await generateSigningKeyPair(nodeCrypto, ctx.random);
    const unsigned = SenderKeyMessage.encodeUnsigned({
      messageVersion: 3,
      distributionId: distributionId(DIST),
      chainId: 7,
      iteration: 9,
      ciphertext: new Uint8Array(16),
    });
    const bytes = SenderKeyMessage.withSignature(
      unsigned,
      await sign(nodeCrypto, pair.privateKey, unsigned, ctx.random),
    );
    const theirs = Signal.SenderKeyMessage.deserialize(ab(bytes));
    assert.ok(theirs.verifySignature(Signal.PublicKey.deserialize(ab(pair.publicKey.serialize()))));
  });

  it('a rotated libsignal-client chain decrypts in Quintet next to the old one', async () => {
    const quintetReceiver = new MemorySenderKeyStore();
    const oldSender = new LibsignalSenderKeyStore();
    const newSender = new LibsignalSenderKeyStore();
    for (const store of [oldSender, newSender]) {
      const skdm = (
        await Signal.SenderKeyDistributionMessage.create(signalAlice, DIST, store)
      ).serialize();
      await processSenderKeyDistributionMessage(ctx, quintetReceiver, quintetAlice, skdm);
    }
    const fromOld = (
      await Signal.groupEncrypt(signalAlice, DIST, oldSender, ab(text('old')))
    ).serialize();
    const fromNew = (
      await Signal.groupEncrypt(signalAlice, DIST, newSender, ab(text('new')))
    ).serialize();
    assert.equal(str(await groupDecrypt(ctx, quintetReceiver, quintetAlice, fromNew)), 'new');
    assert.equal(str(await groupDecrypt(ctx, quintetReceiver, quintetAlice, fromOld)), 'old');
  });

  it('libsignal-client rejects what Quintet rejects in a distribution message', async () => {
    const quintet = new MemorySenderKeyStore();
    const skdm = await createSenderKeyDistributionMessage(ctx, quintet, quintetAlice, DIST);
    for (const bad of [
      skdm.subarray(0, 60),
      Uint8Array.of(0x23, ...skdm.subarray(1)),
      Uint8Array.of(0x43, ...skdm.subarray(1)),
    ]) {
      assert.throws(() => Signal.SenderKeyDistributionMessage.deserialize(ab(bad)));
      assert.throws(
        () => SenderKeyDistributionMessage.deserialize(bad),
        (err: unknown) => ProtocolError.is(err),
      );
    }
  });
});
