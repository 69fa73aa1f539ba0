/**
 * Encrypting and decrypting one message with one session state (Double
 * Ratchet spec §3.4 RatchetEncrypt / §3.5 RatchetDecrypt with skipped keys;
 * libsignal `session_cipher.rs`).
 *
 * `decryptWithState` is all-or-nothing: it computes every new value into
 * locals, checks the MAC and the padding, and only then writes to the state,
 * in one synchronous block. A failed decryption therefore leaves the state
 * exactly as it was, which the record-level code relies on when it tries
 * several states in turn.
 */
import { CryptoError } from '../crypto/provider.js';
import { messageKeySeed, nextChainKey, type ChainKey } from './chain-key.js';
import type { ProtocolContext } from './context.js';
import { generateKeyPair, PublicKey } from './curve.js';
import { SignalMessageV4 } from './pq/messages-v4.js';
import { ProtocolError } from './errors.js';
import { deriveMessageKeys } from './message-keys.js';
import {
  cachedRatchetPrivateKey,
  forgetRatchetKey,
  rememberRatchetKey,
} from './ratchet-key-cache.js';
import { createChain, type RatchetStep } from './root-key.js';
import {
  MAX_FORWARD_JUMPS,
  MAX_SKIPPED_MESSAGE_KEYS,
  type SessionState,
  type SkippedMessageKey,
} from './session-state.js';
import { SignalMessage } from './signal-message.js';

/** Encrypts `plaintext` (exact bytes, no padding added) and advances the sending chain. */
export async function encryptWithState(
  ctx: ProtocolContext,
  state: SessionState,
  plaintext: Uint8Array,
): Promise<SignalMessage> {
  return seal(ctx, state, plaintext, undefined, (fields, macKey) =>
    SignalMessage.create(
      ctx.crypto,
      fields,
      macKey,
      state.localIdentityKey,
      state.remoteIdentityKey,
    ),
  );
}

/**
 * The version-4 form (libsignal's triple ratchet): the SPQR key of this
 * message is the HKDF salt of its message keys and the SPQR message rides
 * in the `pq_ratchet` field. The caller commits the SPQR state.
 */
export async function encryptWithStateV4(
  ctx: ProtocolContext,
  state: SessionState,
  plaintext: Uint8Array,
  pq: { readonly field: Uint8Array; readonly key: Uint8Array | undefined },
): Promise<SignalMessageV4> {
  return seal(ctx, state, plaintext, pq.key, (fields, macKey) =>
    SignalMessageV4.create(
      ctx.crypto,
      {
        senderRatchetKey: PublicKey.deserialize(fields.senderRatchetKey),
        counter: fields.counter,
        previousCounter: fields.previousCounter,
        ciphertext: fields.ciphertext,
        pqRatchet: pq.field,
      },
      macKey,
      state.localIdentityKey,
      state.remoteIdentityKey,
    ),
  );
}

interface SealedFields {
  readonly senderRatchetKey: Uint8Array;
  readonly counter: number;
  readonly previousCounter: number;
  readonly ciphertext: Uint8Array;
}

async function seal<M>(
  ctx: ProtocolContext,
  state: SessionState,
  plaintext: Uint8Array,
  salt: Uint8Array | undefined,
  build: (fields: SealedFields, macKey: Uint8Array) => Promise<M>,
): Promise<M> {
  const chain = state.senderChain;
  if (chain === undefined) throw new ProtocolError('no-session', 'session has no sending chain');
  const { crypto } = ctx;
  const seed = await messageKeySeed(crypto, chain.chainKey);
  const keys = await deriveMessageKeys(crypto, seed, chain.chainKey.index, salt);
  const ciphertext = await crypto.aes256CbcEncrypt(keys.cipherKey, keys.iv, plaintext);
  const message = await build(
    {
      senderRatchetKey: chain.ratchetKey,
      counter: chain.chainKey.index,
      previousCounter: state.previousCounter,
      ciphertext,
    },
    keys.macKey,
  );
  chain.chainKey = await nextChainKey(crypto, chain.chainKey);
  return message;
}

/**
 * The message's ratchet key as a key object; a v3 message parses it only
 * when asked (a plain function, not a closure per decrypt).
 */
function remoteRatchetKeyOf(message: SignalMessage | SignalMessageV4): PublicKey {
  return message instanceof SignalMessageV4 ? message.senderRatchetKey : message.senderRatchetKey();
}

/** Where the message key came from, so the commit step knows what to change. */
type KeySource =
  | { readonly kind: 'skipped'; readonly position: number }
  | { readonly kind: 'advance'; readonly skipped: SkippedMessageKey[]; readonly next: ChainKey };

/**
 * Decrypts `message` with `state`. Throws 'duplicate-message' for a counter
 * whose key was already used, 'too-far-in-future' for a jump over
 * `MAX_FORWARD_JUMPS`, 'bad-mac' when the MAC does not verify, 'invalid-key'
 * for a low-order ratchet key; on any throw the state is unchanged.
 */
export async function decryptWithState(
  ctx: ProtocolContext,
  state: SessionState,
  message: SignalMessage | SignalMessageV4,
  /**
   * Version 4: yields the message's SPQR key (the message-key salt). Called
   * only once the double ratchet has found this message's key — libsignal's
   * order (`triple_ratchet.rs` `decrypt`): a replay is refused by the
   * ratchet as `duplicate-message` before SPQR is asked, so SPQR's own
   * refusals mean only "not this state's message".
   */
  pqrKey?: () => Promise<Uint8Array | undefined>,
): Promise<Uint8Array> {
  const { crypto } = ctx;
  const v4 = message instanceof SignalMessageV4;
  const ratchetKeyBytes = v4 ? message.senderRatchetKey.serialize() : message.senderRatchetKeyBytes;
  if (state.senderChain === undefined)
    throw new ProtocolError('invalid-state', 'session has no sending chain');
  const existing = state.receiverChain(ratchetKeyBytes);

  // Step 1 (spec §3.5 DHRatchet, receiving half): a new remote ratchet key
  // opens a new receiving chain from DH(our current ratchet key, theirs).
  let newChain: RatchetStep | undefined;
  let chainKey: ChainKey;
  if (existing !== undefined) {
    chainKey = existing.chainKey;
  } else {
    const ours = cachedRatchetPrivateKey(
      state.senderChain.ratchetKey,
      state.senderChain.ratchetPrivateKey,
    );
    newChain = await createChain(crypto, state.rootKey, remoteRatchetKeyOf(message), ours);
    chainKey = newChain.chainKey;
  }

  // Step 2: the message key, from the skipped keys or by advancing the chain.
  const counter = message.counter;
  let seed: Uint8Array;
  let source: KeySource;
  if (counter < chainKey.index) {
    const position =
      existing === undefined ? -1 : existing.messageKeys.findIndex((k) => k.index === counter);
    const stored = existing?.messageKeys[position];
    // The key was used (or dropped as too old): decrypting again would be a
    // replay, so refuse it with its own code.
    if (stored === undefined)
      throw new ProtocolError('duplicate-message', 'message key already used');
    seed = stored.seed;
    source = { kind: 'skipped', position };
  } else {
    if (counter - chainKey.index > MAX_FORWARD_JUMPS) {
      throw new ProtocolError('too-far-in-future', 'message counter too far ahead');
    }
    // Keys older than the newest MAX_SKIPPED_MESSAGE_KEYS would be dropped
    // at once, so their seeds are never computed; the chain still advances.
    const keepFrom = Math.max(chainKey.index, counter - MAX_SKIPPED_MESSAGE_KEYS);
    const skipped: SkippedMessageKey[] = [];
    let ck = chainKey;
    while (ck.index < counter) {
      if (ck.index >= keepFrom)
        skipped.push({ index: ck.index, seed: await messageKeySeed(crypto, ck) });
      ck = await nextChainKey(crypto, ck);
    }
    seed = await messageKeySeed(crypto, ck);
    source = { kind: 'advance', skipped, next: await nextChainKey(crypto, ck) };
  }

  // Step 3: authenticate before decrypting (encrypt-then-MAC).
  const keys = await deriveMessageKeys(crypto, seed, counter, await pqrKey?.());
  if (
    !(await message.verifyMac(crypto, keys.macKey, state.remoteIdentityKey, state.localIdentityKey))
  ) {
    throw new ProtocolError('bad-mac', 'message authentication failed');
  }
  let plaintext: Uint8Array;
  try {
    plaintext = await crypto.aes256CbcDecrypt(keys.cipherKey, keys.iv, message.ciphertext);
  } catch (cause) {
    // Only a sender holding the MAC key can produce this: a broken peer.
    if (CryptoError.is(cause, 'decrypt-failed')) {
      throw new ProtocolError('invalid-message', 'ciphertext padding is invalid', { cause });
    }
    throw cause;
  }

  // Step 4 (spec §3.5 DHRatchet, sending half): answer a new remote ratchet
  // key with a fresh one of ours. Drawn only now, after the message proved
  // authentic, so a forged message costs no randomness and changes nothing.
  let sending:
    | {
        ratchet: Awaited<ReturnType<typeof generateKeyPair>>;
        step: RatchetStep;
        ratchetKey: Uint8Array;
        ratchetPrivateKey: Uint8Array;
      }
    | undefined;
  if (newChain !== undefined) {
    const ratchet = await generateKeyPair(crypto, ctx.random);
    const step = await createChain(
      crypto,
      newChain.rootKey,
      remoteRatchetKeyOf(message),
      ratchet.privateKey,
    );
    sending = {
      ratchet,
      step,
      ratchetKey: ratchet.publicKey.serialize().slice(),
      ratchetPrivateKey: ratchet.privateKey.toStorageBytes(),
    };
  }

  // Commit: synchronous, so nothing can fail half way.
  if (source.kind === 'skipped') {
    existing?.messageKeys.splice(source.position, 1);
  } else if (existing !== undefined) {
    existing.chainKey = source.next;
    appendSkipped(existing.messageKeys, source.skipped);
  }
  if (newChain !== undefined && sending !== undefined && source.kind === 'advance') {
    const messageKeys: SkippedMessageKey[] = [];
    appendSkipped(messageKeys, source.skipped);
    state.addReceiverChain({
      // A copy: the message's field is a view into the whole message.
      ratchetKey: ratchetKeyBytes.slice(),
      chainKey: source.next,
      messageKeys,
    });
    // libsignal: previous counter = last index sent on the old chain (0 if none).
    state.previousCounter = Math.max(state.senderChain.chainKey.index - 1, 0);
    // The replaced ratchet key is no longer needed: drop it from the key
    // cache so it does not outlive the ratchet step in memory.
    forgetRatchetKey(state.senderChain.ratchetKey);
    rememberRatchetKey(sending.ratchetKey, sending.ratchet.privateKey, sending.ratchetPrivateKey);
    state.senderChain = {
      ratchetKey: sending.ratchetKey,
      ratchetPrivateKey: sending.ratchetPrivateKey,
      chainKey: sending.step.chainKey,
    };
    state.rootKey = sending.step.rootKey;
  }
  // Any reply proves the responder built the session: stop sending prekey messages.
  state.pendingPreKey = undefined;
  return plaintext;
}

function appendSkipped(into: SkippedMessageKey[], more: readonly SkippedMessageKey[]): void {
  for (const k of more) into.push(k);
  if (into.length > MAX_SKIPPED_MESSAGE_KEYS)
    into.splice(0, into.length - MAX_SKIPPED_MESSAGE_KEYS);
}
