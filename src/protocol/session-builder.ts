/**
 * Starting sessions (X3DH §3.3 for the initiator, §3.4 for the responder;
 * libsignal `session.rs` `process_prekey_bundle` / `process_prekey`). A
 * bundle that carries a signed KEM prekey gives a version-4 session (PQXDH,
 * triple ratchet); one without gives version 3 exactly as before. The
 * responder's v4 half is `pq/incoming-v4.ts`.
 */
import type { ProtocolAddress } from './address.js';
import { withAddressLock, type SessionOptions } from './address-lock.js';
import { copyBytes } from './bytes.js';
import type { ProtocolContext } from './context.js';
import { generateKeyPair, verify, type PublicKey } from './curve.js';
import { ProtocolError } from './errors.js';
import type { KemPublicKey } from './pq/kem.js';
import { initiateSessionV4 } from './pq/session-v4.js';
import type { PreKeySignalMessage } from './prekey-signal-message.js';
import { SessionRecord } from './session-record.js';
import { CIPHERTEXT_MESSAGE_VERSION } from './signal-message.js';
import { PQ_SESSION_VERSION, type SessionState } from './session-state.js';
import type { ProtocolStores } from './stores/protocol-stores.js';
import { initializeAliceSession, initializeBobSession } from './x3dh.js';

/** What a server hands out for one device (X3DH §3.2 "prekey bundle"). */
export interface PreKeyBundle {
  readonly registrationId: number;
  readonly deviceId: number;
  readonly preKeyId?: number;
  readonly preKey?: PublicKey;
  readonly signedPreKeyId: number;
  readonly signedPreKey: PublicKey;
  /** XEdDSA signature by `identityKey` over `signedPreKey.serialize()`. */
  readonly signedPreKeySignature: Uint8Array;
  readonly identityKey: PublicKey;
  /** The signed KEM prekey (PQXDH): id, key and signature together or none. */
  readonly kyberPreKeyId?: number;
  readonly kyberPreKey?: KemPublicKey;
  /** XEdDSA signature by `identityKey` over `kyberPreKey.serialize()` (type byte included). */
  readonly kyberPreKeySignature?: Uint8Array;
}

/**
 * Builds a new session to `address` from its prekey bundle and makes it the
 * current state (any older one is archived). Throws 'untrusted-identity' if
 * the identity store refuses the bundle's identity, 'invalid-signature'
 * if the signed prekey's signature does not verify and 'downgrade-refused'
 * for a bundle without a KEM prekey when the record holds a version-4 state
 * (see `holdsVersion4`) — in each case nothing is stored. Draws two key pairs: the X3DH base key, then the first ratchet key.
 */
export async function processPreKeyBundle(
  ctx: ProtocolContext,
  stores: ProtocolStores,
  address: ProtocolAddress,
  bundle: PreKeyBundle,
  options: SessionOptions = {},
): Promise<void> {
  checkBundleShape(bundle);
  await withAddressLock(
    stores.sessions,
    address,
    async () => {
      const record = (await stores.sessions.loadSession(address)) ?? SessionRecord.empty();
      await initiateInRecord(ctx, stores, address, record, bundle);
      // Write order: identity, then session (a crash in between leaves a known
      // identity without a session, which the next bundle repairs).
      await stores.identity.saveIdentity(address, bundle.identityKey);
      await stores.sessions.storeSession(address, record);
    },
    options,
  );
}

/** A bundle carries a one-time prekey and its id together or neither. */
export function checkBundleShape(bundle: PreKeyBundle): void {
  if ((bundle.preKey === undefined) !== (bundle.preKeyId === undefined)) {
    throw new ProtocolError(
      'invalid-message',
      'bundle has a one-time prekey without an id, or the reverse',
    );
  }
  const kyber = [bundle.kyberPreKeyId, bundle.kyberPreKey, bundle.kyberPreKeySignature];
  if (kyber.some((f) => f === undefined) && kyber.some((f) => f !== undefined)) {
    throw new ProtocolError(
      'invalid-message',
      'bundle has a KEM prekey without its id or signature, or the reverse',
    );
  }
}

/**
 * The initiator's half of X3DH on an already loaded `record`: checks the
 * bundle's identity is trusted and its signed prekey signature, builds the
 * state and makes it current. Stores nothing: the caller saves the bundle's
 * identity and then the record (the session cipher does both once, after
 * encrypting, so a send from a fresh bundle loads and writes the record once).
 */
export async function initiateInRecord(
  ctx: ProtocolContext,
  stores: ProtocolStores,
  address: ProtocolAddress,
  record: SessionRecord,
  bundle: PreKeyBundle,
): Promise<void> {
  checkBundleShape(bundle);
  if (!(await stores.identity.isTrustedIdentity(address, bundle.identityKey, 'sending'))) {
    throw new ProtocolError('untrusted-identity', 'identity key of the bundle is not trusted');
  }
  // The signature is what ties the signed prekey to the identity: without
  // this check a server could substitute its own prekey and read the session.
  const signed = bundle.signedPreKey.serialize();
  const signature = copyBytes(bundle.signedPreKeySignature);
  if (!(await verify(ctx.crypto, bundle.identityKey, signed, signature))) {
    throw new ProtocolError('invalid-signature', 'signed prekey signature does not verify');
  }
  const ourIdentityKeyPair = await stores.identity.getIdentityKeyPair();
  const localRegistrationId = await stores.identity.getLocalRegistrationId();
  if (
    bundle.kyberPreKey !== undefined &&
    bundle.kyberPreKeyId !== undefined &&
    bundle.kyberPreKeySignature !== undefined
  ) {
    // As for the signed prekey: unsigned, a server could hand out its own
    // KEM key and hold the post-quantum half of the secret.
    const kemSignature = copyBytes(bundle.kyberPreKeySignature);
    if (
      !(await verify(ctx.crypto, bundle.identityKey, bundle.kyberPreKey.serialize(), kemSignature))
    ) {
      throw new ProtocolError('invalid-signature', 'KEM prekey signature does not verify');
    }
    const state = await initiateSessionV4(
      ctx,
      { identity: ourIdentityKeyPair, registrationId: localRegistrationId },
      {
        registrationId: bundle.registrationId,
        identityKey: bundle.identityKey,
        signedPreKeyId: bundle.signedPreKeyId,
        signedPreKey: bundle.signedPreKey,
        preKeyId: bundle.preKeyId,
        preKey: bundle.preKey,
        kyberPreKeyId: bundle.kyberPreKeyId,
        kyberPreKey: bundle.kyberPreKey,
      },
    );
    record.promoteState(state);
    return;
  }
  if (holdsVersion4(record)) {
    throw new ProtocolError(
      'downgrade-refused',
      'bundle without a KEM prekey for a peer whose session is version 4',
    );
  }
  const baseKey = await generateKeyPair(ctx.crypto, ctx.random);
  const state = await initializeAliceSession(ctx, {
    ourIdentityKeyPair,
    ourBaseKeyPair: baseKey,
    theirIdentityKey: bundle.identityKey,
    theirSignedPreKey: bundle.signedPreKey,
    theirOneTimePreKey: bundle.preKey,
    localRegistrationId,
    remoteRegistrationId: bundle.registrationId,
  });
  state.pendingPreKey = {
    preKeyId: bundle.preKeyId,
    signedPreKeyId: bundle.signedPreKeyId,
    baseKey: baseKey.publicKey.serialize().slice(),
  };
  record.promoteState(state);
}

/** The responder's outcome of an incoming prekey message, before decryption. */
export interface IncomingSession {
  /** The state to decrypt with (not yet in the record when `isNew`). */
  readonly state: SessionState;
  /** -1: the record's current state; ≥ 0: an archived one; undefined: new. */
  readonly existingIndex: number | undefined;
  /** The one-time prekey to remove once the session is stored. */
  readonly usedPreKeyId: number | undefined;
}

/**
 * Finds or builds the responder state for a v3 prekey message. Changes
 * nothing: the caller decrypts first and stores only on success. Throws
 * 'invalid-prekey-id' when the signed or one-time prekey is unknown (already
 * used, or never ours), and 'invalid-version' once the peer's session is
 * version 4 (see `refusesVersion3`).
 */
export async function prepareIncomingSession(
  ctx: ProtocolContext,
  stores: ProtocolStores,
  record: SessionRecord,
  message: PreKeySignalMessage,
): Promise<IncomingSession> {
  const baseKey = message.baseKey.serialize();
  const identity = message.identityKey.serialize();
  if (
    refusesVersion3(record) ||
    record.findByBaseKey(baseKey, identity, PQ_SESSION_VERSION) !== undefined
  ) {
    throw new ProtocolError('invalid-version', 'a version-3 message for a version-4 session');
  }
  // The initiator repeats its prekey message until it hears back; those
  // repeats belong to the session already built (X3DH §3.4 does not rerun).
  const existingIndex = record.findByBaseKey(baseKey, identity, CIPHERTEXT_MESSAGE_VERSION);
  if (existingIndex !== undefined) {
    const state = existingIndex < 0 ? record.current : record.previous[existingIndex];
    if (state === undefined) throw new ProtocolError('invalid-state', 'session index out of range');
    return { state, existingIndex, usedPreKeyId: undefined };
  }
  const signedPreKey = await stores.signedPreKeys.loadSignedPreKey(message.signedPreKeyId);
  if (signedPreKey === undefined)
    throw new ProtocolError('invalid-prekey-id', 'unknown signed prekey id');
  let oneTime;
  if (message.preKeyId !== undefined) {
    oneTime = await stores.preKeys.loadPreKey(message.preKeyId);
    if (oneTime === undefined)
      throw new ProtocolError('invalid-prekey-id', 'unknown or used one-time prekey id');
  }
  const state = await initializeBobSession(ctx, {
    ourIdentityKeyPair: await stores.identity.getIdentityKeyPair(),
    ourSignedPreKeyPair: signedPreKey.keyPair,
    ourOneTimePreKeyPair: oneTime?.keyPair,
    theirIdentityKey: message.identityKey,
    theirBaseKey: message.baseKey,
    localRegistrationId: await stores.identity.getLocalRegistrationId(),
    remoteRegistrationId: message.registrationId,
  });
  return { state, existingIndex: undefined, usedPreKeyId: message.preKeyId };
}

/**
 * Downgrade guard: once the current session with a peer is version 4, no
 * version-3 message is taken from it — neither a SignalMessage (which an
 * archived v3 state could decrypt and so become current again) nor a
 * PreKeySignalMessage starting a v3 session over the PQ one. libsignal
 * refuses both outright (a v3 prekey message is "X3DH no longer
 * supported"; a message whose version differs from the session's is
 * refused by every state); Quintet still speaks v3 with v3-only peers, so
 * it refuses only where a PQ session exists.
 */
export function refusesVersion3(record: SessionRecord): boolean {
  return record.current?.sessionVersion === PQ_SESSION_VERSION;
}

/**
 * Initiator-side downgrade guard: a record that holds a version-4 state,
 * current or archived, takes no version-3 session from a bundle. A server
 * (or anyone on the path to it) could otherwise strip the KEM prekey from
 * the bundle and so turn the next session with a post-quantum peer back into
 * a classical one. libsignal builds no version-3 session at all; Quintet
 * still does for peers that never offered a KEM prekey, so it refuses only
 * once the peer has been post-quantum. Archived states count too: a
 * session archived (not deleted) before a rebuild still proves the peer
 * spoke version 4.
 */
export function holdsVersion4(record: SessionRecord): boolean {
  if (record.current?.sessionVersion === PQ_SESSION_VERSION) return true;
  return record.previous.some((state) => state.sessionVersion === PQ_SESSION_VERSION);
}
