/**
 * Encrypting to and decrypting from one remote device (libsignal
 * `session_cipher.rs` `message_encrypt` / `message_decrypt_*`).
 *
 * Every operation loads the record, works on that private copy, and writes
 * back only after success, in the order identity → session → prekey
 * removal; a failed decryption changes no store.
 */
import type { ProtocolAddress } from './address.js';
import { withAddressLock, type SessionOptions } from './address-lock.js';
import type { ProtocolContext } from './context.js';
import { PublicKey } from './curve.js';
import { decryptWithState, encryptWithState } from './double-ratchet.js';
import { ProtocolError, type ProtocolErrorCode } from './errors.js';
import { decryptIncomingV4 } from './pq/incoming-v4.js';
import { PQ_MESSAGE_VERSION, PreKeySignalMessageV4, SignalMessageV4 } from './pq/messages-v4.js';
import { decryptV4, encryptV4 } from './pq/session-v4.js';
import { PreKeySignalMessage } from './prekey-signal-message.js';
import {
  initiateInRecord,
  prepareIncomingSession,
  refusesVersion3,
  type PreKeyBundle,
} from './session-builder.js';
import { SessionRecord } from './session-record.js';
import { PQ_SESSION_VERSION, type SessionState } from './session-state.js';
import { CIPHERTEXT_MESSAGE_VERSION, SignalMessage } from './signal-message.js';
import type { ProtocolStores } from './stores/protocol-stores.js';

/** An encrypted message and how to label it on the wire. */
export interface CiphertextMessage {
  /** 'prekey' until the peer has answered the session, then 'signal'. */
  readonly type: 'prekey' | 'signal';
  readonly body: Uint8Array;
  /** The peer's registration id in the session used (the server checks it for staleness). */
  readonly remoteRegistrationId: number;
}

/**
 * When no state decrypts a message, the most telling failure wins: a jump
 * past the limit or a valid MAC with bad padding says more than a bad MAC.
 * 'invalid-version' (the message's version is not any state's, or a v4
 * message without SPQR) is reported only when nothing else was tried.
 */
const FAILURE_PRIORITY: readonly ProtocolErrorCode[] = [
  'too-far-in-future',
  'invalid-message',
  'invalid-key',
  'bad-mac',
  'invalid-version',
];

/** The version nibble of a serialized message (3 or 4; anything else fails its parser). */
function versionOf(body: Uint8Array): number | undefined {
  const first = body[0];
  return first === undefined ? undefined : first >> 4;
}

/** Pairwise encryption with one remote device. Cheap to construct; holds no state. */
export class SessionCipher {
  constructor(
    private readonly ctx: ProtocolContext,
    private readonly stores: ProtocolStores,
    private readonly address: ProtocolAddress,
    private readonly options: SessionOptions = {},
  ) {}

  #locked<T>(job: () => Promise<T>): Promise<T> {
    return withAddressLock(this.stores.sessions, this.address, job, this.options);
  }

  /**
   * Encrypts exact bytes (the caller pads). Returns a PreKeySignalMessage
   * while the session is unacknowledged, else a SignalMessage. Throws
   * 'no-session' without a usable session and 'untrusted-identity' when the
   * identity store no longer trusts the peer. Draws no randomness.
   *
   * With `bundle`, a device with no open session gets one built from it
   * first (X3DH as initiator, see `processPreKeyBundle`), in the same
   * operation: the record is loaded and stored once. The bundle is ignored
   * when a session is open (one built meanwhile, e.g. by an incoming
   * prekey message, is kept: two sessions built at once would diverge).
   */
  encrypt(plaintext: Uint8Array, bundle?: PreKeyBundle): Promise<CiphertextMessage> {
    return this.#locked(async () => {
      const record =
        (await this.stores.sessions.loadSession(this.address)) ?? SessionRecord.empty();
      let fromBundle = false;
      if (bundle !== undefined && !record.hasOpenSession()) {
        await initiateInRecord(this.ctx, this.stores, this.address, record, bundle);
        fromBundle = true;
      }
      const state = record.current;
      if (state === undefined || !state.hasSenderChain) {
        throw new ProtocolError('no-session', 'no open session with this device');
      }
      const remoteIdentity = PublicKey.deserialize(state.remoteIdentityKey);
      if (
        !(await this.stores.identity.isTrustedIdentity(this.address, remoteIdentity, 'sending'))
      ) {
        throw new ProtocolError(
          'untrusted-identity',
          'identity key of the session is no longer trusted',
        );
      }
      let result: CiphertextMessage;
      if (state.sessionVersion === PQ_SESSION_VERSION) {
        const out = await encryptV4(this.ctx, state, plaintext);
        result = { ...out, remoteRegistrationId: state.remoteRegistrationId };
      } else {
        result = await this.#encryptV3(state, plaintext);
      }
      // Write order as in processPreKeyBundle: identity, then session.
      if (bundle !== undefined && fromBundle) {
        await this.stores.identity.saveIdentity(this.address, bundle.identityKey);
      }
      await this.stores.sessions.storeSession(this.address, record);
      return result;
    });
  }

  async #encryptV3(state: SessionState, plaintext: Uint8Array): Promise<CiphertextMessage> {
    const message = await encryptWithState(this.ctx, state, plaintext);
    const pending = state.pendingPreKey;
    let result: CiphertextMessage;
    if (pending === undefined) {
      result = {
        type: 'signal',
        body: message.serialized,
        remoteRegistrationId: state.remoteRegistrationId,
      };
    } else {
      const wrapped = PreKeySignalMessage.create({
        registrationId: state.localRegistrationId,
        preKeyId: pending.preKeyId,
        signedPreKeyId: pending.signedPreKeyId,
        baseKey: PublicKey.deserialize(pending.baseKey),
        identityKey: PublicKey.deserialize(state.localIdentityKey),
        message,
      });
      result = {
        type: 'prekey',
        body: wrapped.serialized,
        remoteRegistrationId: state.remoteRegistrationId,
      };
    }
    return result;
  }

  /**
   * Decrypts a SignalMessage (version 3 or 4) under the current or an
   * archived state of the same version (the one that works is promoted to
   * current). Throws 'no-session', 'duplicate-message', 'bad-mac',
   * 'too-far-in-future', 'untrusted-identity', 'invalid-version' (a v3
   * message while the current session is v4, or no state of the message's
   * version) or a parse error; stores are unchanged on any throw.
   */
  async decryptSignalMessage(body: Uint8Array): Promise<Uint8Array> {
    // Parsed inside the async function, so bad bytes reject rather than throw.
    const message =
      versionOf(body) === PQ_MESSAGE_VERSION
        ? SignalMessageV4.deserialize(body)
        : SignalMessage.deserialize(body);
    return this.#locked(async () => {
      const record = await this.stores.sessions.loadSession(this.address);
      if (record === undefined || (record.current === undefined && record.previous.length === 0)) {
        throw new ProtocolError('no-session', 'no session with this device');
      }
      if (message instanceof SignalMessage && refusesVersion3(record)) {
        throw new ProtocolError('invalid-version', 'a version-3 message for a version-4 session');
      }
      const { plaintext, state, index } = await this.#decryptWithRecord(record, message);
      const identity = await this.#checkIdentity(state);
      if (index >= 0) record.promoteArchivedState(index);
      await this.stores.identity.saveIdentity(this.address, identity);
      await this.stores.sessions.storeSession(this.address, record);
      return plaintext;
    });
  }

  /**
   * Decrypts a PreKeySignalMessage: runs X3DH as responder if this base key
   * is new (and removes the one-time prekey it used), else continues the
   * session already built for it. Throws 'untrusted-identity' before any
   * key work, 'invalid-prekey-id' for an unknown prekey, and the errors of
   * `decryptSignalMessage`; stores are unchanged on any throw.
   */
  async decryptPreKeySignalMessage(body: Uint8Array): Promise<Uint8Array> {
    if (versionOf(body) === PQ_MESSAGE_VERSION) return this.#decryptPreKeyV4(body);
    const message = PreKeySignalMessage.deserialize(body);
    return this.#locked(async () => {
      if (
        !(await this.stores.identity.isTrustedIdentity(
          this.address,
          message.identityKey,
          'receiving',
        ))
      ) {
        throw new ProtocolError('untrusted-identity', 'identity key of the sender is not trusted');
      }
      const record =
        (await this.stores.sessions.loadSession(this.address)) ?? SessionRecord.empty();
      const incoming = await prepareIncomingSession(this.ctx, this.stores, record, message);
      const plaintext = await decryptWithState(this.ctx, incoming.state, message.message);
      if (incoming.existingIndex === undefined) record.promoteState(incoming.state);
      else if (incoming.existingIndex >= 0) record.promoteArchivedState(incoming.existingIndex);
      await this.stores.identity.saveIdentity(this.address, message.identityKey);
      await this.stores.sessions.storeSession(this.address, record);
      if (incoming.usedPreKeyId !== undefined)
        await this.stores.preKeys.removePreKey(incoming.usedPreKeyId);
      return plaintext;
    });
  }

  /**
   * A v4 PreKeySignalMessage: PQXDH as responder for a new base key, else
   * the session already built for it. A new session's KEM prekey is marked
   * used before anything else is written, so a refused replay of a
   * last-resort KEM prekey ('duplicate-message') stores nothing.
   */
  async #decryptPreKeyV4(body: Uint8Array): Promise<Uint8Array> {
    const message = PreKeySignalMessageV4.deserialize(body);
    return this.#locked(async () => {
      if (
        !(await this.stores.identity.isTrustedIdentity(
          this.address,
          message.identityKey,
          'receiving',
        ))
      ) {
        throw new ProtocolError('untrusted-identity', 'identity key of the sender is not trusted');
      }
      const record =
        (await this.stores.sessions.loadSession(this.address)) ?? SessionRecord.empty();
      const incoming = await decryptIncomingV4(this.ctx, this.stores, record, message);
      if (incoming.existingIndex === undefined) record.promoteState(incoming.state);
      else if (incoming.existingIndex >= 0) record.promoteArchivedState(incoming.existingIndex);
      const used = incoming.used;
      if (used !== undefined) {
        const kyberStore = this.stores.kyberPreKeys;
        if (kyberStore === undefined) {
          throw new ProtocolError('invalid-prekey-id', 'no KEM prekey store');
        }
        await kyberStore.markKyberPreKeyUsed(used.kyberPreKeyId, used.signedPreKeyId, used.baseKey);
      }
      await this.stores.identity.saveIdentity(this.address, message.identityKey);
      await this.stores.sessions.storeSession(this.address, record);
      if (used?.preKeyId !== undefined) await this.stores.preKeys.removePreKey(used.preKeyId);
      return incoming.plaintext;
    });
  }

  /** True when a current session can encrypt. */
  hasOpenSession(): Promise<boolean> {
    return this.#locked(async () => {
      const record = await this.stores.sessions.loadSession(this.address);
      return record?.hasOpenSession() === true;
    });
  }

  /** The peer's registration id from the current session; 'no-session' without one. */
  remoteRegistrationId(): Promise<number> {
    return this.#locked(async () => {
      const state = (await this.stores.sessions.loadSession(this.address))?.current;
      if (state === undefined) throw new ProtocolError('no-session', 'no session with this device');
      return state.remoteRegistrationId;
    });
  }

  /**
   * Tries the current state, then archived ones newest first (libsignal's
   * order); a state of another version than the message is skipped
   * (libsignal: `UnrecognizedMessageVersion` for that state).
   */
  async #decryptWithRecord(
    record: SessionRecord,
    message: SignalMessage | SignalMessageV4,
  ): Promise<{ plaintext: Uint8Array; state: SessionState; index: number }> {
    const version =
      message instanceof SignalMessageV4 ? PQ_MESSAGE_VERSION : CIPHERTEXT_MESSAGE_VERSION;
    const candidates: Array<[number, SessionState]> = [];
    if (record.current !== undefined) candidates.push([-1, record.current]);
    record.previous.forEach((state, i) => candidates.push([i, state]));
    const failures = new Set<ProtocolErrorCode>();
    for (const [index, state] of candidates) {
      if (state.sessionVersion !== version) {
        failures.add('invalid-version');
        continue;
      }
      try {
        const plaintext =
          message instanceof SignalMessageV4
            ? await decryptV4(this.ctx, state, message)
            : await decryptWithState(this.ctx, state, message);
        return { plaintext, state, index };
      } catch (error) {
        // A used key is definitive (ratchet keys are unique to one state);
        // anything that is not a per-state mismatch is a real fault.
        if (
          !ProtocolError.is(error) ||
          error.code === 'duplicate-message' ||
          error.code === 'invalid-state'
        ) {
          throw error;
        }
        failures.add(error.code);
      }
    }
    const code = FAILURE_PRIORITY.find((c) => failures.has(c)) ?? 'bad-mac';
    throw new ProtocolError(code, 'no session state could decrypt the message');
  }

  async #checkIdentity(state: SessionState): Promise<PublicKey> {
    const identity = PublicKey.deserialize(state.remoteIdentityKey);
    if (!(await this.stores.identity.isTrustedIdentity(this.address, identity, 'receiving'))) {
      throw new ProtocolError(
        'untrusted-identity',
        'identity key of the session is no longer trusted',
      );
    }
    return identity;
  }
}
