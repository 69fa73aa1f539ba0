/**
 * Version-4 sessions: PQXDH setup plus libsignal's triple ratchet (Double
 * Ratchet with SPQR mixed in), on Quintet's `SessionState` (libsignal
 * `session.rs`, `session_cipher_legacy.rs`, `triple_ratchet.rs`):
 *
 * - Setup as in v3 but with PQXDH's keys; the state also holds the SPQR
 *   state (initiator A→B, responder B→A, auth key = PQXDH's third 32 bytes)
 *   and, until the peer answers, the KEM prekey id and ciphertext that every
 *   PreKeySignalMessage repeats.
 * - Encrypt: one SPQR `send` per message; its key is the HKDF salt of the
 *   message keys, its bytes the SignalMessage's `pq_ratchet` field.
 * - Decrypt: one SPQR `recv` on the message's field (a downgrade, bad MAC or
 *   used key throws), then the Double Ratchet with that salt; both states
 *   are committed only once the message authenticated and decrypted.
 *
 * These are state-level operations; identity checks and stores stay with
 * the caller. Nothing on the live client path uses them yet (Quintet
 * devices still speak v3 to each other until negotiation lands).
 */
import type { ProtocolContext } from '../context.js';
import { generateKeyPair, PublicKey, type KeyPair } from '../curve.js';
import { decryptWithState, encryptWithStateV4 } from '../double-ratchet.js';
import { ProtocolError } from '../errors.js';
import { rememberRatchetKey } from '../ratchet-key-cache.js';
import { createChain } from '../root-key.js';
import { PQ_SESSION_VERSION, SessionState, type PendingPqRatchetState } from '../session-state.js';
import type { ProtoWriter } from '../wire.js';
import type { KemPublicKey, KemSecretKey } from './kem.js';
import { PreKeySignalMessageV4, type SignalMessageV4 } from './messages-v4.js';
import { pqxdhAccept, pqxdhInitiate } from './pqxdh.js';
import { spqrInitialState, spqrRecv, spqrSend, type SpqrRatchetState } from './spqr-ratchet.js';
import { encodeSpqrState, writeSpqrState } from './spqr-state-codec.js';
import { cachedSpqrState, rememberSpqrState } from './spqr-state-cache.js';

/** The peer's bundle, its signatures already checked (`verify`, `verifiedKemPreKey`). */
export interface VerifiedBundleV4 {
  readonly registrationId: number;
  readonly identityKey: PublicKey;
  readonly signedPreKeyId: number;
  readonly signedPreKey: PublicKey;
  readonly preKeyId: number | undefined;
  readonly preKey: PublicKey | undefined;
  readonly kyberPreKeyId: number;
  readonly kyberPreKey: KemPublicKey;
}

/** The initiator's session from a bundle: draws a base key, the KEM's 32 bytes, a ratchet key. */
export async function initiateSessionV4(
  ctx: ProtocolContext,
  ours: { readonly identity: KeyPair; readonly registrationId: number },
  bundle: VerifiedBundleV4,
): Promise<SessionState> {
  const base = await generateKeyPair(ctx.crypto, ctx.random);
  const { keys, kemCiphertext } = await pqxdhInitiate(ctx, {
    ourIdentityKeyPair: ours.identity,
    ourBaseKeyPair: base,
    theirIdentityKey: bundle.identityKey,
    theirSignedPreKey: bundle.signedPreKey,
    theirOneTimePreKey: bundle.preKey,
    theirKemPreKey: bundle.kyberPreKey,
  });
  const ratchet = await generateKeyPair(ctx.crypto, ctx.random);
  const step = await createChain(ctx.crypto, keys.rootKey, bundle.signedPreKey, ratchet.privateKey);
  const ratchetKey = ratchet.publicKey.serialize().slice();
  const ratchetPrivateKey = ratchet.privateKey.toStorageBytes();
  rememberRatchetKey(ratchetKey, ratchet.privateKey, ratchetPrivateKey);
  const spqr = await spqrInitialState(ctx.crypto, keys.pqrKey, 'a2b');
  return new SessionState({
    sessionVersion: PQ_SESSION_VERSION,
    localIdentityKey: ours.identity.publicKey.serialize().slice(),
    remoteIdentityKey: bundle.identityKey.serialize().slice(),
    rootKey: step.rootKey,
    previousCounter: 0,
    senderChain: { ratchetKey, ratchetPrivateKey, chainKey: step.chainKey },
    receiverChains: [],
    pendingPreKey: {
      preKeyId: bundle.preKeyId,
      signedPreKeyId: bundle.signedPreKeyId,
      baseKey: base.publicKey.serialize().slice(),
      kyber: { preKeyId: bundle.kyberPreKeyId, ciphertext: kemCiphertext },
    },
    localRegistrationId: ours.registrationId,
    remoteRegistrationId: bundle.registrationId,
    aliceBaseKey: base.publicKey.serialize().slice(),
    pqRatchetState: encodeSpqrState(spqr),
  });
}

/** What the responder holds for the prekeys a message names. */
export interface ResponderKeysV4 {
  readonly identity: KeyPair;
  readonly registrationId: number;
  readonly signedPreKey: KeyPair;
  readonly oneTimePreKey: KeyPair | undefined;
  readonly kemSecretKey: KemSecretKey;
}

/**
 * The responder's session for a v4 PreKeySignalMessage and its plaintext.
 * Throws (PQXDH's refusals, or the first message's decryption errors)
 * without producing a state.
 */
export async function acceptSessionV4(
  ctx: ProtocolContext,
  ours: ResponderKeysV4,
  message: PreKeySignalMessageV4,
): Promise<{ readonly state: SessionState; readonly plaintext: Uint8Array }> {
  const keys = await pqxdhAccept(ctx, {
    ourIdentityKeyPair: ours.identity,
    ourSignedPreKeyPair: ours.signedPreKey,
    ourOneTimePreKeyPair: ours.oneTimePreKey,
    ourKemPreKey: ours.kemSecretKey,
    theirIdentityKey: message.identityKey,
    theirBaseKey: message.baseKey,
    theirKemCiphertext: message.kyberCiphertext,
  });
  const spqr = await spqrInitialState(ctx.crypto, keys.pqrKey, 'b2a');
  const state = new SessionState({
    sessionVersion: PQ_SESSION_VERSION,
    localIdentityKey: ours.identity.publicKey.serialize().slice(),
    remoteIdentityKey: message.identityKey.serialize().slice(),
    rootKey: keys.rootKey,
    previousCounter: 0,
    senderChain: {
      ratchetKey: ours.signedPreKey.publicKey.serialize().slice(),
      ratchetPrivateKey: ours.signedPreKey.privateKey.toStorageBytes(),
      chainKey: { key: keys.chainKey, index: 0 },
    },
    receiverChains: [],
    pendingPreKey: undefined,
    localRegistrationId: ours.registrationId,
    remoteRegistrationId: message.registrationId,
    aliceBaseKey: message.baseKey.serialize().slice(),
    pqRatchetState: encodeSpqrState(spqr),
  });
  const plaintext = await decryptV4(ctx, state, message.message);
  return { state, plaintext };
}

function requireV4(state: SessionState): Uint8Array {
  if (state.sessionVersion !== PQ_SESSION_VERSION || state.pqRatchetState === undefined) {
    throw new ProtocolError('invalid-version', 'not a version-4 session');
  }
  return state.pqRatchetState;
}

/**
 * The stored SPQR state, decoded (or, for the very bytes the session's last
 * step wrote, remembered: `spqr-state-cache.ts`).
 */
function loadSpqr(state: SessionState): SpqrRatchetState {
  return cachedSpqrState(state, requireV4(state));
}

/**
 * Stores the SPQR state after a step. It is encoded when the session is
 * written (or its bytes read), and remembered for the next load with
 * exactly the bytes written.
 */
function storeSpqr(state: SessionState, spqr: SpqrRatchetState): void {
  state.setPendingPqRatchetState(new PendingSpqr(state, spqr));
}

/**
 * A step's new SPQR state until its session is written. A class rather than
 * an object of closures: this is made for every message.
 */
class PendingSpqr implements PendingPqRatchetState {
  readonly #session: SessionState;
  readonly #spqr: SpqrRatchetState;

  constructor(session: SessionState, spqr: SpqrRatchetState) {
    this.#session = session;
    this.#spqr = spqr;
  }

  write(w: ProtoWriter): void {
    writeSpqrState(w, this.#spqr);
  }

  written(bytes: Uint8Array): void {
    rememberSpqrState(this.#session, bytes, this.#spqr);
  }
}

/**
 * Encrypts exact bytes: a v4 PreKeySignalMessage while the session is
 * unacknowledged, else a v4 SignalMessage. Advances both ratchets.
 */
export async function encryptV4(
  ctx: ProtocolContext,
  state: SessionState,
  plaintext: Uint8Array,
): Promise<{ readonly type: 'prekey' | 'signal'; readonly body: Uint8Array }> {
  const spqr = loadSpqr(state);
  const pending = state.pendingPreKey;
  if (pending !== undefined && pending.kyber === undefined) {
    throw new ProtocolError('invalid-state', 'version-4 session without its KEM prekey');
  }
  const sent = await spqrSend(ctx.crypto, spqr, ctx.random);
  const message = await encryptWithStateV4(ctx, state, plaintext, {
    field: sent.message,
    key: sent.key,
  });
  storeSpqr(state, sent.state);
  if (pending?.kyber === undefined) return { type: 'signal', body: message.serialized };
  const wrapped = PreKeySignalMessageV4.create({
    registrationId: state.localRegistrationId,
    preKeyId: pending.preKeyId,
    signedPreKeyId: pending.signedPreKeyId,
    kyberPreKeyId: pending.kyber.preKeyId,
    kyberCiphertext: pending.kyber.ciphertext,
    baseKey: PublicKey.deserialize(pending.baseKey),
    identityKey: PublicKey.deserialize(state.localIdentityKey),
    message,
  });
  return { type: 'prekey', body: wrapped.serialized };
}

/**
 * Decrypts a v4 SignalMessage with `state`. On any throw the state is
 * unchanged: SPQR's step is pure and committed after the Double Ratchet's.
 */
export async function decryptV4(
  ctx: ProtocolContext,
  state: SessionState,
  message: SignalMessageV4,
): Promise<Uint8Array> {
  // A stored state that does not decode is this state's own fault
  // (`invalid-state`, as libsignal's StateDecode).
  const spqr = loadSpqr(state);
  let received: Awaited<ReturnType<typeof spqrRecv>> | undefined;
  const plaintext = await decryptWithState(ctx, state, message, async () => {
    received = await spqrRecvForState(ctx, spqr, message);
    return received.key;
  });
  if (received === undefined) throw new ProtocolError('invalid-state', 'SPQR step missing');
  storeSpqr(state, received.state);
  return plaintext;
}

/**
 * SPQR's receive step for one candidate state. It runs after the double
 * ratchet accepted the message key, so a replay never gets here; what SPQR
 * refuses now ("key already used", an epoch this state does not have) says
 * the message belongs to another state of the record, which the caller
 * then tries — libsignal maps these to InvalidMessage, never to
 * DuplicatedMessage or InvalidState. Passing them on as `duplicate-message`
 * or `invalid-state` would end the search at the current state: the message
 * would be dropped as already seen, or the session deleted.
 */
async function spqrRecvForState(
  ctx: ProtocolContext,
  spqr: SpqrRatchetState,
  message: SignalMessageV4,
): ReturnType<typeof spqrRecv> {
  try {
    return await spqrRecv(ctx.crypto, spqr, message.pqRatchet);
  } catch (error) {
    if (ProtocolError.is(error, 'duplicate-message') || ProtocolError.is(error, 'invalid-state')) {
      throw new ProtocolError('invalid-message', `post-quantum ratchet: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}
