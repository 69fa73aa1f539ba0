/**
 * The responder's half of a version-4 session through the stores
 * (libsignal `session.rs` `process_prekey_impl`, `session_cipher.rs`
 * `message_decrypt_prekey`): find the session already built for this
 * prekey message's base key, or run PQXDH with the prekeys it names, and
 * decrypt its SignalMessage. Changes no store: the session cipher commits
 * (KEM prekey use, identity, session, EC prekey removal) only on success.
 */
import type { ProtocolContext } from '../context.js';
import { ProtocolError } from '../errors.js';
import type { SessionRecord } from '../session-record.js';
import { PQ_SESSION_VERSION, type SessionState } from '../session-state.js';
import type { ProtocolStores } from '../stores/protocol-stores.js';
import type { PreKeySignalMessageV4 } from './messages-v4.js';
import { acceptSessionV4, decryptV4 } from './session-v4.js';

/** What a v4 prekey message gave, before anything is stored. */
export interface IncomingSessionV4 {
  readonly state: SessionState;
  readonly plaintext: Uint8Array;
  /** -1: the record's current state; ≥ 0: an archived one; undefined: new. */
  readonly existingIndex: number | undefined;
  /** A new session's prekeys, to mark used (KEM) and remove (EC one-time). */
  readonly used:
    | {
        readonly preKeyId: number | undefined;
        readonly kyberPreKeyId: number;
        readonly signedPreKeyId: number;
        readonly baseKey: Uint8Array;
      }
    | undefined;
}

/**
 * Decrypts a v4 PreKeySignalMessage against `record` (its states change
 * only in memory, the caller stores). Throws 'invalid-prekey-id' for an
 * unknown signed, one-time or KEM prekey (a used one-time KEM prekey is
 * gone, so a second session from it is refused here), PQXDH's refusals
 * (non-canonical base key, bad KEM ciphertext) and the decryption errors.
 */
export async function decryptIncomingV4(
  ctx: ProtocolContext,
  stores: ProtocolStores,
  record: SessionRecord,
  message: PreKeySignalMessageV4,
): Promise<IncomingSessionV4> {
  const baseKey = message.baseKey.serialize();
  // The initiator repeats its prekey message until it hears back; repeats
  // continue the session built for that base key (PQXDH does not rerun).
  const existingIndex = record.findByBaseKey(
    baseKey,
    message.identityKey.serialize(),
    PQ_SESSION_VERSION,
  );
  if (existingIndex !== undefined) {
    const state = existingIndex < 0 ? record.current : record.previous[existingIndex];
    if (state === undefined) throw new ProtocolError('invalid-state', 'session index out of range');
    const plaintext = await decryptV4(ctx, state, message.message);
    return { state, plaintext, existingIndex, used: undefined };
  }
  const signedPreKey = await stores.signedPreKeys.loadSignedPreKey(message.signedPreKeyId);
  if (signedPreKey === undefined) {
    throw new ProtocolError('invalid-prekey-id', 'unknown signed prekey id');
  }
  const kyber = await stores.kyberPreKeys?.loadKyberPreKey(message.kyberPreKeyId);
  if (kyber === undefined) {
    throw new ProtocolError('invalid-prekey-id', 'unknown or used KEM prekey id');
  }
  let oneTime;
  if (message.preKeyId !== undefined) {
    oneTime = await stores.preKeys.loadPreKey(message.preKeyId);
    if (oneTime === undefined) {
      throw new ProtocolError('invalid-prekey-id', 'unknown or used one-time prekey id');
    }
  }
  const { state, plaintext } = await acceptSessionV4(
    ctx,
    {
      identity: await stores.identity.getIdentityKeyPair(),
      registrationId: await stores.identity.getLocalRegistrationId(),
      signedPreKey: signedPreKey.keyPair,
      oneTimePreKey: oneTime?.keyPair,
      kemSecretKey: kyber.keyPair.secretKey,
    },
    message,
  );
  return {
    state,
    plaintext,
    existingIndex: undefined,
    used: {
      preKeyId: message.preKeyId,
      kyberPreKeyId: message.kyberPreKeyId,
      signedPreKeyId: message.signedPreKeyId,
      baseKey: baseKey.slice(),
    },
  };
}
