/**
 * Sender Keys group encryption, compatible byte for byte with
 * libsignal-client (`group_cipher.rs`): a sender creates a chain and hands
 * its distribution message to every member over 1:1 sessions; afterwards one
 * `groupEncrypt` output goes to all of them.
 *
 * Every function loads the record, works on that copy and stores it back only
 * when everything succeeded, so a failure (bad signature, replay, corrupt
 * ciphertext) leaves the store as it was. Callers must not run two
 * operations for the same sender concurrently (one queue per peer).
 */
import { CryptoError } from '../crypto/provider.js';
import type { ProtocolAddress } from './address.js';
import type { ProtocolContext } from './context.js';
import { generateSigningKeyPair, sign, verify } from './curve.js';
import { ProtocolError } from './errors.js';
import {
  nextSenderChainKey,
  senderMessageKeys,
  senderMessageKeySeed,
  SENDER_CHAIN_KEY_LENGTH,
} from './sender-key-chain.js';
import { distributionId as canonicalDistributionId } from './sender-key-distribution-id.js';
import {
  SENDER_KEY_MESSAGE_VERSION,
  SenderKeyDistributionMessage,
  SenderKeyMessage,
} from './sender-key-messages.js';
import { MAX_SENDER_FORWARD_JUMPS, SenderKeyRecord, SenderKeyState } from './sender-key-record.js';
import type { SenderKeyStore } from './stores/sender-key-store.js';

/** Iterations are protobuf uint32; the chain cannot step past this. */
const MAX_ITERATION = 0xffffffff;

/**
 * Returns this device's distribution message for `distributionId`, creating
 * the sender chain on first use: a 31-bit random chain id (libsignal-java
 * uses signed 32-bit ids, so libsignal draws 31 bits), a random 32-byte chain
 * key at iteration 0 and a new signing key pair. The only randomness Sender
 * Keys consume is here (and in XEdDSA signing of imported scalar keys).
 */
export async function createSenderKeyDistributionMessage(
  ctx: ProtocolContext,
  store: SenderKeyStore,
  sender: ProtocolAddress,
  distributionId: string,
): Promise<Uint8Array> {
  const id = canonicalDistributionId(distributionId);
  let record = await store.loadSenderKey(sender, id);
  if (record === undefined) {
    const idBytes = ctx.random(4);
    const chainId =
      (((idBytes[0] ?? 0) << 24) |
        ((idBytes[1] ?? 0) << 16) |
        ((idBytes[2] ?? 0) << 8) |
        (idBytes[3] ?? 0)) >>>
      1;
    const chainKey = ctx.random(SENDER_CHAIN_KEY_LENGTH).slice();
    const signing = await generateSigningKeyPair(ctx.crypto, ctx.random);
    record = SenderKeyRecord.empty();
    record.addState(
      new SenderKeyState(
        SENDER_KEY_MESSAGE_VERSION,
        chainId,
        0,
        chainKey,
        signing.publicKey,
        signing.privateKey,
      ),
    );
    await store.storeSenderKey(sender, id, record);
  }
  const state = record.currentState();
  if (state === undefined)
    throw new ProtocolError('invalid-state', 'sender key record has no state');
  return SenderKeyDistributionMessage.create({
    messageVersion: state.messageVersion,
    distributionId: id,
    chainId: state.chainId,
    iteration: state.chainIteration,
    chainKey: state.chainKey,
    signingKey: state.signingPublic,
  }).serialized;
}

/**
 * Accepts a member's distribution message so its group messages decrypt.
 * Processing the same message twice changes nothing (the held chain is kept,
 * not rewound); a new chain becomes the newest of at most five.
 */
export async function processSenderKeyDistributionMessage(
  _ctx: ProtocolContext,
  store: SenderKeyStore,
  sender: ProtocolAddress,
  bytes: Uint8Array,
): Promise<void> {
  // `_ctx` keeps the signature uniform with the other operations; processing
  // a distribution message needs no primitive, randomness or time.
  const message = SenderKeyDistributionMessage.deserialize(bytes);
  const record =
    (await store.loadSenderKey(sender, message.distributionId)) ?? SenderKeyRecord.empty();
  record.addState(
    new SenderKeyState(
      message.messageVersion,
      message.chainId,
      message.iteration,
      message.chainKey,
      message.signingKey,
      undefined,
    ),
  );
  await store.storeSenderKey(sender, message.distributionId, record);
}

/**
 * Encrypts one group message under this device's newest chain for
 * `distributionId` and advances the chain. `ProtocolError('no-session')` when
 * no distribution message was ever created for it.
 */
export async function groupEncrypt(
  ctx: ProtocolContext,
  store: SenderKeyStore,
  sender: ProtocolAddress,
  distributionId: string,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const id = canonicalDistributionId(distributionId);
  const record = await store.loadSenderKey(sender, id);
  if (record === undefined)
    throw new ProtocolError('no-session', 'no sender key for this distribution id');
  const state = record.currentState();
  if (state === undefined)
    throw new ProtocolError('invalid-state', 'sender key record has no state');
  const signingKey = state.signingPrivate;
  if (signingKey === undefined) {
    throw new ProtocolError('invalid-state', 'sender key state has no signing private key');
  }
  const iteration = state.chainIteration;
  if (iteration >= MAX_ITERATION)
    throw new ProtocolError('invalid-state', 'sender chain is exhausted');

  const { crypto } = ctx;
  const [seed, nextChainKey] = await Promise.all([
    senderMessageKeySeed(crypto, state.chainKey),
    nextSenderChainKey(crypto, state.chainKey),
  ]);
  const keys = await senderMessageKeys(crypto, seed);
  const ciphertext = await crypto.aes256CbcEncrypt(keys.cipherKey, keys.iv, plaintext);
  const unsigned = SenderKeyMessage.encodeUnsigned({
    messageVersion: state.messageVersion,
    distributionId: id,
    chainId: state.chainId,
    iteration,
    ciphertext,
  });
  const signature = await sign(crypto, signingKey, unsigned, ctx.random);
  state.setChain(iteration + 1, nextChainKey);
  await store.storeSenderKey(sender, id, record);
  return SenderKeyMessage.withSignature(unsigned, signature);
}

/**
 * Decrypts a group message from `sender`. Checks run cheapest-first and
 * before any state changes: parse, find the chain, version, signature; then
 * the message key is taken (each only once) and the ciphertext decrypted.
 *
 * Errors: `no-session` (unknown distribution id or chain id),
 * `invalid-version`, `invalid-signature`, `duplicate-message` (a key already
 * used, or dropped as too old), `too-far-in-future` (more than 25,000 ahead),
 * `invalid-message` (malformed bytes or bad padding).
 */
export async function groupDecrypt(
  ctx: ProtocolContext,
  store: SenderKeyStore,
  sender: ProtocolAddress,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  const message = SenderKeyMessage.deserialize(bytes);
  const record = await store.loadSenderKey(sender, message.distributionId);
  if (record === undefined)
    throw new ProtocolError('no-session', 'no sender key for this distribution id');
  const state = record.stateForChainId(message.chainId);
  if (state === undefined)
    throw new ProtocolError('no-session', 'no sender key state for this chain id');
  if (message.messageVersion !== state.messageVersion) {
    throw new ProtocolError('invalid-version', 'message version differs from the chain version');
  }
  const { crypto } = ctx;
  // Verify before touching the chain: an unsigned forgery must not be able to
  // burn message keys or move the chain forward.
  if (!(await verify(crypto, state.signingPublic, message.signedContent, message.signature))) {
    throw new ProtocolError('invalid-signature', 'sender key message signature does not verify');
  }
  const seed = await takeMessageKeySeed(ctx, state, message.iteration);
  const keys = await senderMessageKeys(crypto, seed);
  let plaintext: Uint8Array;
  try {
    plaintext = await crypto.aes256CbcDecrypt(keys.cipherKey, keys.iv, message.ciphertext);
  } catch (cause) {
    if (CryptoError.is(cause, 'decrypt-failed')) {
      throw new ProtocolError('invalid-message', 'sender key ciphertext does not decrypt', {
        cause,
      });
    }
    throw cause;
  }
  await store.storeSenderKey(sender, message.distributionId, record);
  return plaintext;
}

/**
 * libsignal's `get_sender_key`: the seed for `iteration`, taken from the
 * skipped keys when it is behind the chain, or by stepping the chain forward
 * (keeping the seeds it passes) when it is ahead.
 */
async function takeMessageKeySeed(
  ctx: ProtocolContext,
  state: SenderKeyState,
  iteration: number,
): Promise<Uint8Array> {
  const current = state.chainIteration;
  if (iteration < current) {
    const seed = state.takeSkipped(iteration);
    if (seed === undefined)
      throw new ProtocolError('duplicate-message', 'sender key message already received');
    return seed;
  }
  if (iteration - current > MAX_SENDER_FORWARD_JUMPS) {
    throw new ProtocolError('too-far-in-future', 'sender key message is too far in the future');
  }
  if (iteration >= MAX_ITERATION)
    throw new ProtocolError('invalid-message', 'sender key iteration out of range');
  const { crypto } = ctx;
  let chainKey = state.chainKey;
  for (let at = current; at < iteration; at++) {
    state.addSkipped(at, await senderMessageKeySeed(crypto, chainKey));
    chainKey = await nextSenderChainKey(crypto, chainKey);
  }
  const [seed, next] = await Promise.all([
    senderMessageKeySeed(crypto, chainKey),
    nextSenderChainKey(crypto, chainKey),
  ]);
  state.setChain(iteration + 1, next);
  return seed;
}
