/**
 * One Double Ratchet session with one remote device (libsignal
 * `state/session.rs` `SessionState`): root key, the sending chain, up to
 * `MAX_RECEIVER_CHAINS` receiving chains with their skipped message keys,
 * and the X3DH facts (identities, base key, registration ids, the pending
 * prekey while the initiator has not yet heard back).
 *
 * Storage format: `SessionStructure` in proto/quintet/protocol/storage.proto,
 * encoded by hand (see `wire.ts`). Keys are kept as bytes and turned into key
 * objects only when a DH ratchet step needs them, so loading and saving a
 * session on every message stays cheap.
 */
import { bytesEqual, copyBytes } from './bytes.js';
import type { ChainKey } from './chain-key.js';
import { CIPHERTEXT_MESSAGE_VERSION, PUBLIC_KEY_LENGTH } from './signal-message.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

/** libsignal `MAX_RECEIVER_CHAINS`: older receiving chains are dropped. */
export const MAX_RECEIVER_CHAINS = 5;
/** libsignal `MAX_MESSAGE_KEYS`: skipped keys kept per chain; the oldest go first. */
export const MAX_SKIPPED_MESSAGE_KEYS = 2000;
/** libsignal `MAX_FORWARD_JUMPS`: a counter further ahead is refused outright. */
export const MAX_FORWARD_JUMPS = 25_000;

const KEY_LENGTH = 32;
/** A stored KEM ciphertext: type byte ‖ 1568 bytes (`pq/kem.ts`). */
const KEM_SERIALIZED_CIPHERTEXT_LENGTH = 1 + 1568;
/** `PrivateKey.toStorageBytes()` length: a tag byte and 32 bytes. */
const STORED_PRIVATE_KEY_LENGTH = 33;
const REDACTED = '[SessionState]';
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** A skipped message key: its chain index and the 32-byte seed HMAC(chain key, 0x01). */
export interface SkippedMessageKey {
  readonly index: number;
  readonly seed: Uint8Array;
}

/** A receiving chain, keyed by the remote ratchet public key. */
export interface ReceiverChain {
  /** The remote ratchet public key, 33 bytes. */
  readonly ratchetKey: Uint8Array;
  chainKey: ChainKey;
  /** Ascending by index; at most `MAX_SKIPPED_MESSAGE_KEYS`. */
  messageKeys: SkippedMessageKey[];
}

/** The sending chain and our current ratchet key pair. */
export interface SenderChain {
  /** Our ratchet public key, 33 bytes. */
  readonly ratchetKey: Uint8Array;
  /** Our ratchet private key in `PrivateKey.toStorageBytes()` form. */
  readonly ratchetPrivateKey: Uint8Array;
  chainKey: ChainKey;
}

/** What an initiator repeats in every message until the responder answers. */
export interface PendingPreKey {
  readonly preKeyId: number | undefined;
  readonly signedPreKeyId: number;
  /** Our X3DH base public key, 33 bytes. */
  readonly baseKey: Uint8Array;
  /** Version 4 (PQXDH) only: the KEM prekey used and our ciphertext to it (`type ‖ c`). */
  readonly kyber?: { readonly preKeyId: number; readonly ciphertext: Uint8Array } | undefined;
}

/** libsignal's PQXDH session version; its messages carry version byte 0x44. */
export const PQ_SESSION_VERSION = 4;

/**
 * A version-4 session's SPQR state after a step, kept as a value until its
 * bytes are needed (`SessionState.setPendingPqRatchetState`).
 */
export interface PendingPqRatchetState {
  /** Writes the state's storage encoding (the `pqRatchetState` bytes). */
  write(w: ProtoWriter): void;
  /** Shown those exact bytes each time they are written; a view valid only during the call. */
  written(bytes: Uint8Array): void;
}

/** The fields of a session state. */
export interface SessionStateFields {
  sessionVersion: number;
  localIdentityKey: Uint8Array;
  remoteIdentityKey: Uint8Array;
  rootKey: Uint8Array;
  previousCounter: number;
  senderChain: SenderChain | undefined;
  receiverChains: ReceiverChain[];
  pendingPreKey: PendingPreKey | undefined;
  localRegistrationId: number;
  remoteRegistrationId: number;
  /** The initiator's base key: identifies the session on both sides. */
  aliceBaseKey: Uint8Array;
  /** Version 4 only: the SPQR state in `spqr-state-codec.ts` form (required there). */
  pqRatchetState?: Uint8Array | undefined;
}

/**
 * A mutable session state. Holds secrets, so `toString`, `toJSON` and inspect
 * print a placeholder.
 */
export class SessionState implements SessionStateFields {
  sessionVersion: number;
  localIdentityKey: Uint8Array;
  remoteIdentityKey: Uint8Array;
  rootKey: Uint8Array;
  previousCounter: number;
  senderChain: SenderChain | undefined;
  receiverChains: ReceiverChain[];
  pendingPreKey: PendingPreKey | undefined;
  localRegistrationId: number;
  remoteRegistrationId: number;
  aliceBaseKey: Uint8Array;
  #pqRatchetBytes: Uint8Array | undefined;
  #pqRatchetPending: PendingPqRatchetState | undefined;

  constructor(fields: SessionStateFields) {
    this.sessionVersion = fields.sessionVersion;
    this.localIdentityKey = fields.localIdentityKey;
    this.remoteIdentityKey = fields.remoteIdentityKey;
    this.rootKey = fields.rootKey;
    this.previousCounter = fields.previousCounter;
    this.senderChain = fields.senderChain;
    this.receiverChains = fields.receiverChains;
    this.pendingPreKey = fields.pendingPreKey;
    this.localRegistrationId = fields.localRegistrationId;
    this.remoteRegistrationId = fields.remoteRegistrationId;
    this.aliceBaseKey = fields.aliceBaseKey;
    this.#pqRatchetBytes = fields.pqRatchetState;
  }

  /** Version 4 only: the SPQR state in `spqr-state-codec.ts` form. */
  get pqRatchetState(): Uint8Array | undefined {
    const pending = this.#pqRatchetPending;
    if (pending !== undefined) {
      const bytes = ProtoWriter.encode((w) => pending.write(w));
      pending.written(bytes);
      this.#pqRatchetBytes = bytes;
      this.#pqRatchetPending = undefined;
    }
    return this.#pqRatchetBytes;
  }

  set pqRatchetState(bytes: Uint8Array | undefined) {
    this.#pqRatchetBytes = bytes;
    this.#pqRatchetPending = undefined;
  }

  /**
   * Replaces the SPQR state with one encoded only when its bytes are first
   * read or written: a step's new state then goes straight into the
   * session record's encoding, instead of first into ~4 KB of its own.
   */
  setPendingPqRatchetState(pending: PendingPqRatchetState): void {
    this.#pqRatchetBytes = undefined;
    this.#pqRatchetPending = pending;
  }

  /** The receiving chain for a remote ratchet key, if this state has one. */
  receiverChain(ratchetKey: Uint8Array): ReceiverChain | undefined {
    for (const chain of this.receiverChains) {
      if (bytesEqual(chain.ratchetKey, ratchetKey)) return chain;
    }
    return undefined;
  }

  /** Adds a receiving chain, dropping the oldest beyond `MAX_RECEIVER_CHAINS`. */
  addReceiverChain(chain: ReceiverChain): void {
    this.receiverChains.push(chain);
    if (this.receiverChains.length > MAX_RECEIVER_CHAINS) {
      this.receiverChains.splice(0, this.receiverChains.length - MAX_RECEIVER_CHAINS);
    }
  }

  /** True when this state can encrypt. */
  get hasSenderChain(): boolean {
    return this.senderChain !== undefined;
  }

  /** Writes the `SessionStructure` fields. */
  encode(w: ProtoWriter): void {
    w.uint(1, this.sessionVersion)
      .bytes(2, this.localIdentityKey)
      .bytes(3, this.remoteIdentityKey)
      .bytes(4, this.rootKey)
      .uint(5, this.previousCounter);
    const sender = this.senderChain;
    if (sender !== undefined) {
      w.message(6, (c) => {
        c.bytes(1, sender.ratchetKey).bytes(2, sender.ratchetPrivateKey);
        c.message(3, (k) => k.uint(1, sender.chainKey.index).bytes(2, sender.chainKey.key));
      });
    }
    for (const chain of this.receiverChains) {
      w.message(7, (c) => {
        c.bytes(1, chain.ratchetKey);
        c.message(3, (k) => k.uint(1, chain.chainKey.index).bytes(2, chain.chainKey.key));
        for (const mk of chain.messageKeys)
          c.message(4, (m) => m.uint(1, mk.index).bytes(2, mk.seed));
      });
    }
    const pending = this.pendingPreKey;
    if (pending !== undefined) {
      w.message(8, (p) => {
        if (pending.preKeyId !== undefined) p.uint(1, pending.preKeyId);
        p.bytes(2, pending.baseKey).uint(3, pending.signedPreKeyId);
        if (pending.kyber !== undefined) {
          p.uint(4, pending.kyber.preKeyId).bytes(5, pending.kyber.ciphertext);
        }
      });
    }
    w.uint(9, this.remoteRegistrationId)
      .uint(10, this.localRegistrationId)
      .bytes(11, this.aliceBaseKey);
    // Field 15 as in libsignal's SessionStructure (`pq_ratchet_state`), in
    // Quintet's own layout; a pending state writes the same bytes in place.
    const pq = this.#pqRatchetPending;
    if (pq !== undefined) {
      w.message(
        15,
        (m) => pq.write(m),
        (bytes) => pq.written(bytes),
      );
    } else if (this.#pqRatchetBytes !== undefined) {
      w.bytes(15, this.#pqRatchetBytes);
    }
  }

  /** Standalone `SessionStructure` bytes. */
  serialize(): Uint8Array {
    return ProtoWriter.encode((w) => this.encode(w));
  }

  /** Parses `SessionStructure` bytes; `ProtocolError('invalid-state')` on anything malformed. */
  static deserialize(bytes: Uint8Array): SessionState {
    const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
    let sessionVersion: number | undefined;
    let localIdentityKey: Uint8Array | undefined;
    let remoteIdentityKey: Uint8Array | undefined;
    let rootKey: Uint8Array | undefined;
    let previousCounter = 0;
    let senderChain: SenderChain | undefined;
    const receiverChains: ReceiverChain[] = [];
    let pendingPreKey: PendingPreKey | undefined;
    let remoteRegistrationId = 0;
    let localRegistrationId = 0;
    let aliceBaseKey: Uint8Array | undefined;
    let pqRatchetState: Uint8Array | undefined;
    while (r.more) {
      const f = r.next();
      switch (f.field) {
        case 1:
          sessionVersion = asUint32(r, f);
          break;
        case 2:
          localIdentityKey = sized(r, asBytes(r, f), PUBLIC_KEY_LENGTH, 'local identity');
          break;
        case 3:
          remoteIdentityKey = sized(r, asBytes(r, f), PUBLIC_KEY_LENGTH, 'remote identity');
          break;
        case 4:
          rootKey = sized(r, asBytes(r, f), KEY_LENGTH, 'root key');
          break;
        case 5:
          previousCounter = asUint32(r, f);
          break;
        case 6:
          senderChain = decodeSenderChain(asBytes(r, f));
          break;
        case 7:
          receiverChains.push(decodeReceiverChain(asBytes(r, f)));
          break;
        case 8:
          pendingPreKey = decodePending(asBytes(r, f));
          break;
        case 9:
          remoteRegistrationId = asUint32(r, f);
          break;
        case 10:
          localRegistrationId = asUint32(r, f);
          break;
        case 11:
          aliceBaseKey = sized(r, asBytes(r, f), PUBLIC_KEY_LENGTH, 'base key');
          break;
        case 15:
          pqRatchetState = copyBytes(asBytes(r, f));
          break;
        default:
          break;
      }
    }
    if (
      sessionVersion === undefined ||
      localIdentityKey === undefined ||
      remoteIdentityKey === undefined ||
      rootKey === undefined ||
      aliceBaseKey === undefined
    ) {
      r.fail('SessionStructure lacks a required field');
    }
    if (sessionVersion !== CIPHERTEXT_MESSAGE_VERSION && sessionVersion !== PQ_SESSION_VERSION)
      r.fail(`unsupported session version ${sessionVersion}`);
    // A v4 session without SPQR state would silently fall back to v3 keys; a v3 one with it is damaged.
    if ((sessionVersion === PQ_SESSION_VERSION) !== (pqRatchetState !== undefined)) {
      r.fail('SPQR state present exactly in version-4 sessions');
    }
    if (sessionVersion !== PQ_SESSION_VERSION && pendingPreKey?.kyber !== undefined) {
      r.fail('KEM prekey in a version-3 session');
    }
    if (receiverChains.length > MAX_RECEIVER_CHAINS) r.fail('too many receiver chains');
    return new SessionState({
      sessionVersion,
      localIdentityKey,
      remoteIdentityKey,
      rootKey,
      previousCounter,
      senderChain,
      receiverChains,
      pendingPreKey,
      localRegistrationId,
      remoteRegistrationId,
      aliceBaseKey,
      pqRatchetState,
    });
  }

  /** A placeholder: a session state is secret. */
  toString(): string {
    return REDACTED;
  }

  /** A placeholder: a session state is secret. */
  toJSON(): string {
    return REDACTED;
  }

  /** A placeholder for `util.inspect`. */
  [INSPECT](): string {
    return REDACTED;
  }
}

/** Copies a field after checking its length: a stored record is bytes we must not trust blindly. */
function sized(r: ProtoReader, value: Uint8Array, length: number, what: string): Uint8Array {
  if (value.length !== length) r.fail(`${what} must be ${length} bytes`);
  return copyBytes(value);
}

function decodeChainKey(bytes: Uint8Array): ChainKey {
  const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
  let index = 0;
  let key: Uint8Array | undefined;
  while (r.more) {
    const f = r.next();
    if (f.field === 1) index = asUint32(r, f);
    else if (f.field === 2) key = sized(r, asBytes(r, f), KEY_LENGTH, 'chain key');
  }
  if (key === undefined) r.fail('chain key missing');
  return { key, index };
}

function decodeSenderChain(bytes: Uint8Array): SenderChain {
  const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
  let ratchetKey: Uint8Array | undefined;
  let ratchetPrivateKey: Uint8Array | undefined;
  let chainKey: ChainKey | undefined;
  while (r.more) {
    const f = r.next();
    if (f.field === 1) ratchetKey = sized(r, asBytes(r, f), PUBLIC_KEY_LENGTH, 'ratchet key');
    else if (f.field === 2) {
      ratchetPrivateKey = sized(r, asBytes(r, f), STORED_PRIVATE_KEY_LENGTH, 'ratchet private key');
    } else if (f.field === 3) chainKey = decodeChainKey(asBytes(r, f));
  }
  if (ratchetKey === undefined || ratchetPrivateKey === undefined || chainKey === undefined) {
    r.fail('sender chain incomplete');
  }
  return { ratchetKey, ratchetPrivateKey, chainKey };
}

function decodeReceiverChain(bytes: Uint8Array): ReceiverChain {
  const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
  let ratchetKey: Uint8Array | undefined;
  let chainKey: ChainKey | undefined;
  const messageKeys: SkippedMessageKey[] = [];
  while (r.more) {
    const f = r.next();
    if (f.field === 1) ratchetKey = sized(r, asBytes(r, f), PUBLIC_KEY_LENGTH, 'ratchet key');
    else if (f.field === 3) chainKey = decodeChainKey(asBytes(r, f));
    else if (f.field === 4) {
      const m = decodeChainKey(asBytes(r, f));
      messageKeys.push({ index: m.index, seed: m.key });
    }
  }
  if (ratchetKey === undefined || chainKey === undefined) r.fail('receiver chain incomplete');
  if (messageKeys.length > MAX_SKIPPED_MESSAGE_KEYS) r.fail('too many skipped message keys');
  return { ratchetKey, chainKey, messageKeys };
}

function decodePending(bytes: Uint8Array): PendingPreKey {
  const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
  let preKeyId: number | undefined;
  let baseKey: Uint8Array | undefined;
  let signedPreKeyId: number | undefined;
  let kyberPreKeyId: number | undefined;
  let kyberCiphertext: Uint8Array | undefined;
  while (r.more) {
    const f = r.next();
    if (f.field === 1) preKeyId = asUint32(r, f);
    else if (f.field === 2) baseKey = sized(r, asBytes(r, f), PUBLIC_KEY_LENGTH, 'base key');
    else if (f.field === 3) signedPreKeyId = asUint32(r, f);
    else if (f.field === 4) kyberPreKeyId = asUint32(r, f);
    else if (f.field === 5) {
      kyberCiphertext = sized(r, asBytes(r, f), KEM_SERIALIZED_CIPHERTEXT_LENGTH, 'KEM ciphertext');
    }
  }
  if (baseKey === undefined || signedPreKeyId === undefined) r.fail('pending prekey incomplete');
  if ((kyberPreKeyId === undefined) !== (kyberCiphertext === undefined)) {
    r.fail('KEM prekey id and ciphertext go together');
  }
  const kyber =
    kyberPreKeyId !== undefined && kyberCiphertext !== undefined
      ? { preKeyId: kyberPreKeyId, ciphertext: kyberCiphertext }
      : undefined;
  return { preKeyId, signedPreKeyId, baseKey, kyber };
}
