/**
 * Sender Keys behaviour: round trips, ordering, replay, limits, rotation,
 * and that every failure leaves the store byte-for-byte unchanged.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock, type RandomSource } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { ProtocolError, type ProtocolErrorCode } from '../../src/protocol/errors.js';
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
import {
  MAX_SENDER_MESSAGE_KEYS,
  SenderKeyRecord,
  SenderKeyState,
} from '../../src/protocol/sender-key-record.js';
import { sign } from '../../src/protocol/curve.js';
import { MemorySenderKeyStore } from '../../src/protocol/stores/sender-key-store.js';

/** A deterministic random source: SHA-256 in counter mode over a label. */
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

function context(label: string): ProtocolContext {
  return { crypto: nodeCrypto, random: seededRandom(label), clock: systemClock };
}

const alice = protocolAddress('alice', 1);
const DIST = 'd1b7a3f0-5c2e-4a8b-9f10-2b3c4d5e6f70';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

async function rejectsWith(promise: Promise<unknown>, code: ProtocolErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(ProtocolError.is(err), `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** A sender with its store and a receiver that has processed its distribution message. */
async function pair(label = 'pair') {
  const ctx = context(label);
  const senderStore = new MemorySenderKeyStore();
  const receiverStore = new MemorySenderKeyStore();
  const skdm = await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST);
  await processSenderKeyDistributionMessage(ctx, receiverStore, alice, skdm);
  return { ctx, senderStore, receiverStore, skdm };
}

describe('group cipher', () => {
  it('round-trips messages in order', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    for (let i = 0; i < 5; i++) {
      const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text(`message ${i}`));
      assert.equal(str(await groupDecrypt(ctx, receiverStore, alice, ct)), `message ${i}`);
    }
  });

  it('round-trips an empty plaintext and a large one', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    for (const plaintext of [new Uint8Array(0), new Uint8Array(100_000).fill(7)]) {
      const ct = await groupEncrypt(ctx, senderStore, alice, DIST, plaintext);
      assert.deepEqual(await groupDecrypt(ctx, receiverStore, alice, ct), plaintext);
    }
  });

  it('exposes routing fields without decrypting', async () => {
    const { ctx, senderStore, skdm } = await pair();
    const parsedSkdm = SenderKeyDistributionMessage.deserialize(skdm);
    assert.equal(parsedSkdm.distributionId, DIST);
    assert.equal(parsedSkdm.iteration, 0);
    assert.ok(parsedSkdm.chainId >= 0 && parsedSkdm.chainId < 2 ** 31, '31-bit chain id');
    await groupEncrypt(ctx, senderStore, alice, DIST, text('a'));
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('b'));
    const msg = SenderKeyMessage.deserialize(ct);
    assert.equal(msg.distributionId, DIST);
    assert.equal(msg.chainId, parsedSkdm.chainId);
    assert.equal(msg.iteration, 1);
    assert.equal(msg.messageVersion, 3);
    assert.equal(ct[0], 0x33);
  });

  it('accepts the distribution id in any case and stores it canonically', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST.toUpperCase(), text('x'));
    assert.equal(str(await groupDecrypt(ctx, receiverStore, alice, ct)), 'x');
    assert.equal(senderStore.size, 1);
    await rejectsWith(
      groupEncrypt(ctx, senderStore, alice, 'not-a-uuid', text('x')),
      'invalid-message',
    );
  });

  it('decrypts out of order and each message exactly once', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    const cts: Uint8Array[] = [];
    for (let i = 0; i < 10; i++)
      cts.push(await groupEncrypt(ctx, senderStore, alice, DIST, text(`m${i}`)));
    for (const i of [9, 0, 5, 3, 1, 2, 8, 4, 7, 6]) {
      assert.equal(
        str(await groupDecrypt(ctx, receiverStore, alice, cts[i] ?? new Uint8Array())),
        `m${i}`,
      );
    }
    for (const ct of cts)
      await rejectsWith(groupDecrypt(ctx, receiverStore, alice, ct), 'duplicate-message');
  });

  it('rejects a replay without changing the store', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('once'));
    await groupDecrypt(ctx, receiverStore, alice, ct);
    const before = receiverStore.snapshot();
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, ct), 'duplicate-message');
    assert.deepEqual(receiverStore.snapshot(), before);
  });

  it('rejects a tampered message (signature) without changing the store', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('signed'));
    const before = receiverStore.snapshot();
    for (const index of [ct.length - 20, ct.length - 70, ct.length - 1]) {
      const bad = ct.slice();
      bad[index] = (bad[index] ?? 0) ^ 0x01;
      await rejectsWith(groupDecrypt(ctx, receiverStore, alice, bad), 'invalid-signature');
      assert.deepEqual(receiverStore.snapshot(), before);
    }
    assert.equal(str(await groupDecrypt(ctx, receiverStore, alice, ct)), 'signed');
  });

  it('rejects a message signed by another key that reuses the chain id', async () => {
    const { ctx, receiverStore, skdm } = await pair();
    const chainId = SenderKeyDistributionMessage.deserialize(skdm).chainId;
    // Mallory makes her own chain, then rewrites its chain id to Alice's.
    const mallory = new MemorySenderKeyStore();
    await createSenderKeyDistributionMessage(context('mallory'), mallory, alice, DIST);
    const forged = SenderKeyMessage.deserialize(
      await groupEncrypt(context('mallory'), mallory, alice, DIST, text('hi')),
    );
    const unsigned = SenderKeyMessage.encodeUnsigned({ ...forged, chainId });
    const bytes = SenderKeyMessage.withSignature(unsigned, forged.signature);
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, bytes), 'invalid-signature');
  });

  it('reports an unknown distribution id, chain id or sender as no-session', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('x'));
    await rejectsWith(
      groupDecrypt(ctx, receiverStore, protocolAddress('bob', 1), ct),
      'no-session',
    );
    await rejectsWith(
      groupDecrypt(ctx, receiverStore, protocolAddress('alice', 2), ct),
      'no-session',
    );
    // A chain id the receiver never got a distribution message for.
    const other = new MemorySenderKeyStore();
    await createSenderKeyDistributionMessage(context('other'), other, alice, DIST);
    const foreign = await groupEncrypt(context('other'), other, alice, DIST, text('x'));
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, foreign), 'no-session');
    await rejectsWith(
      groupEncrypt(ctx, senderStore, alice, '00000000-0000-4000-8000-000000000000', text('x')),
      'no-session',
    );
  });

  it('refuses to encrypt from a receiving-only state', async () => {
    const { ctx, receiverStore } = await pair();
    await rejectsWith(groupEncrypt(ctx, receiverStore, alice, DIST, text('x')), 'invalid-state');
  });

  it('returns the same distribution message until the chain moves, then the moved chain', async () => {
    const { ctx, senderStore, skdm } = await pair();
    assert.deepEqual(await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST), skdm);
    await groupEncrypt(ctx, senderStore, alice, DIST, text('x'));
    const later = SenderKeyDistributionMessage.deserialize(
      await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST),
    );
    assert.equal(later.iteration, 1);
  });

  it('a late joiner reads from the iteration it was given, not before', async () => {
    const { ctx, senderStore } = await pair();
    const early = await groupEncrypt(ctx, senderStore, alice, DIST, text('early'));
    const lateStore = new MemorySenderKeyStore();
    await processSenderKeyDistributionMessage(
      ctx,
      lateStore,
      alice,
      await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST),
    );
    const late = await groupEncrypt(ctx, senderStore, alice, DIST, text('late'));
    assert.equal(str(await groupDecrypt(ctx, lateStore, alice, late)), 'late');
    await rejectsWith(groupDecrypt(ctx, lateStore, alice, early), 'duplicate-message');
  });

  it('processing a distribution message again does not rewind the chain', async () => {
    const { ctx, senderStore, receiverStore, skdm } = await pair();
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('x'));
    await groupDecrypt(ctx, receiverStore, alice, ct);
    await processSenderKeyDistributionMessage(ctx, receiverStore, alice, skdm);
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, ct), 'duplicate-message');
  });

  it('keeps five chains, newest first, and drops the oldest', async () => {
    const ctx = context('rotation');
    const receiverStore = new MemorySenderKeyStore();
    const senders: { store: MemorySenderKeyStore; ctx: ProtocolContext }[] = [];
    for (let i = 0; i < 6; i++) {
      const sender = { store: new MemorySenderKeyStore(), ctx: context(`rotation-${i}`) };
      senders.push(sender);
      await processSenderKeyDistributionMessage(
        ctx,
        receiverStore,
        alice,
        await createSenderKeyDistributionMessage(sender.ctx, sender.store, alice, DIST),
      );
    }
    const record = await receiverStore.loadSenderKey(alice, DIST);
    assert.equal(record?.stateCount, 5);
    for (const [index, sender] of senders.entries()) {
      const ct = await groupEncrypt(sender.ctx, sender.store, alice, DIST, text(`from ${index}`));
      if (index === 0) await rejectsWith(groupDecrypt(ctx, receiverStore, alice, ct), 'no-session');
      else assert.equal(str(await groupDecrypt(ctx, receiverStore, alice, ct)), `from ${index}`);
    }
  });

  it('keeps at most 2,000 skipped keys, dropping the oldest', async () => {
    const { ctx, senderStore, receiverStore } = await pair('limits');
    const first = await groupEncrypt(ctx, senderStore, alice, DIST, text('first'));
    const second = await groupEncrypt(ctx, senderStore, alice, DIST, text('second'));
    let last = second;
    for (let i = 0; i < MAX_SENDER_MESSAGE_KEYS; i++)
      last = await groupEncrypt(ctx, senderStore, alice, DIST, text('x'));
    // Iteration 2001 skips 0..2000: 2,001 keys, so iteration 0 falls out.
    assert.equal(SenderKeyMessage.deserialize(last).iteration, MAX_SENDER_MESSAGE_KEYS + 1);
    await groupDecrypt(ctx, receiverStore, alice, last);
    const record = await receiverStore.loadSenderKey(alice, DIST);
    assert.equal(record?.currentState()?.skippedCount, MAX_SENDER_MESSAGE_KEYS);
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, first), 'duplicate-message');
    assert.equal(str(await groupDecrypt(ctx, receiverStore, alice, second)), 'second');
  });

  it('rejects a jump of more than 25,000 iterations and accepts exactly 25,000', async () => {
    const { ctx, senderStore, receiverStore } = await pair('jump');
    const skdm = SenderKeyDistributionMessage.deserialize(
      await createSenderKeyDistributionMessage(ctx, senderStore, alice, DIST),
    );
    const record = await senderStore.loadSenderKey(alice, DIST);
    const state = record?.currentState();
    assert.ok(record !== undefined && state !== undefined);
    // Step the sender's chain forward without storing each message.
    const { nextSenderChainKey } = await import('../../src/protocol/sender-key-chain.js');
    let chainKey = state.chainKey;
    for (let i = 0; i < 25_001; i++) chainKey = await nextSenderChainKey(nodeCrypto, chainKey);
    state.setChain(25_001, chainKey);
    await senderStore.storeSenderKey(alice, DIST, record);
    const tooFar = await groupEncrypt(ctx, senderStore, alice, DIST, text('too far'));
    assert.equal(SenderKeyMessage.deserialize(tooFar).iteration, 25_001);
    const before = receiverStore.snapshot();
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, tooFar), 'too-far-in-future');
    assert.deepEqual(receiverStore.snapshot(), before);
    assert.equal(skdm.iteration, 0);

    // Exactly 25,000 ahead is allowed (libsignal: `jump > MAX_FORWARD_JUMPS` fails).
    const edgeStore = new MemorySenderKeyStore();
    const edge = SenderKeyDistributionMessage.create({
      ...skdm,
      iteration: 1,
      chainKey: await nextSenderChainKey(nodeCrypto, skdm.chainKey),
    });
    await processSenderKeyDistributionMessage(ctx, edgeStore, alice, edge.serialized);
    assert.equal(str(await groupDecrypt(ctx, edgeStore, alice, tooFar)), 'too far');
  });

  it('rejects a bad padding as invalid-message and leaves the store unchanged', async () => {
    const { ctx, senderStore, receiverStore } = await pair('padding');
    // Sign a ciphertext that is not a valid CBC message with the sender's key.
    const record = await senderStore.loadSenderKey(alice, DIST);
    const state = record?.currentState();
    assert.ok(state?.signingPrivate !== undefined);
    const { sign } = await import('../../src/protocol/curve.js');
    const unsigned = SenderKeyMessage.encodeUnsigned({
      messageVersion: 3,
      distributionId: SenderKeyMessage.deserialize(
        await groupEncrypt(ctx, senderStore, alice, DIST, text('x')),
      ).distributionId,
      chainId: state.chainId,
      iteration: 0,
      ciphertext: new Uint8Array(32).fill(9),
    });
    const bytes = SenderKeyMessage.withSignature(
      unsigned,
      await sign(nodeCrypto, state.signingPrivate, unsigned, ctx.random),
    );
    const before = receiverStore.snapshot();
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, bytes), 'invalid-message');
    assert.deepEqual(receiverStore.snapshot(), before);
  });

  it('rejects a message with an unknown version byte before looking for its chain', async () => {
    const { ctx, senderStore, receiverStore } = await pair();
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('x'));
    for (const first of [0x23, 0x43]) {
      const bad = ct.slice();
      bad[0] = first;
      await rejectsWith(groupDecrypt(ctx, receiverStore, alice, bad), 'invalid-version');
    }
  });

  it('rejects a message whose version differs from the version of the chain it names', async () => {
    // Parsing accepts only version 3, so this check is reached only when the
    // held chain has another version (a record written by another version
    // of the code): the message must not be read under that chain's rules.
    const { ctx, senderStore, receiverStore } = await pair('version');
    const ct = await groupEncrypt(ctx, senderStore, alice, DIST, text('x'));
    const held = (await receiverStore.loadSenderKey(alice, DIST))?.currentState();
    assert.ok(held !== undefined);
    const record = SenderKeyRecord.empty();
    record.addState(
      new SenderKeyState(
        2,
        held.chainId,
        held.chainIteration,
        held.chainKey,
        held.signingPublic,
        undefined,
      ),
    );
    await receiverStore.storeSenderKey(alice, DIST, record);
    const before = receiverStore.snapshot();
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, ct), 'invalid-version');
    assert.deepEqual(receiverStore.snapshot(), before);
  });

  it('rejects a message naming a chain id the receiver does not hold, even signed by the right key', async () => {
    // The sender's own signing key signs a message that names another chain
    // id. Only the chain-id lookup stops it: the signature verifies and the
    // message key for its iteration exists on the chain the receiver holds.
    const { ctx, senderStore, receiverStore } = await pair('chain-id');
    const state = (await senderStore.loadSenderKey(alice, DIST))?.currentState();
    assert.ok(state?.signingPrivate !== undefined);
    const genuine = SenderKeyMessage.deserialize(
      await groupEncrypt(ctx, senderStore, alice, DIST, text('chain')),
    );
    const unsigned = SenderKeyMessage.encodeUnsigned({
      ...genuine,
      chainId: genuine.chainId ^ 1,
    });
    const forged = SenderKeyMessage.withSignature(
      unsigned,
      await sign(nodeCrypto, state.signingPrivate, unsigned, ctx.random),
    );
    const before = receiverStore.snapshot();
    await rejectsWith(groupDecrypt(ctx, receiverStore, alice, forged), 'no-session');
    assert.deepEqual(receiverStore.snapshot(), before, 'a refused message burns no key');
    // Control: the same message under its real chain id decrypts.
    const real = SenderKeyMessage.withSignature(
      SenderKeyMessage.encodeUnsigned(genuine),
      await sign(
        nodeCrypto,
        state.signingPrivate,
        SenderKeyMessage.encodeUnsigned(genuine),
        ctx.random,
      ),
    );
    assert.equal(str(await groupDecrypt(ctx, receiverStore, alice, real)), 'chain');
  });

  it('prints no key material', async () => {
    const { skdm, receiverStore } = await pair();
    const parsed = SenderKeyDistributionMessage.deserialize(skdm);
    const record = await receiverStore.loadSenderKey(alice, DIST);
    const chainKeyHex = Buffer.from(parsed.chainKey).toString('hex');
    for (const shown of [
      String(parsed),
      JSON.stringify(parsed),
      inspect(parsed, { depth: 5 }),
      String(record),
      JSON.stringify(record),
      inspect(record, { depth: 5 }),
      inspect(record?.currentState(), { depth: 5 }),
      JSON.stringify(record?.currentState()),
    ]) {
      assert.ok(!shown.includes(chainKeyHex), 'chain key hex leaked');
      assert.ok(!/\b\d+(, \d+){16,}/.test(shown), 'a byte array leaked');
    }
  });
});
