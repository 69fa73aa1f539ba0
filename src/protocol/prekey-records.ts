/**
 * Stored prekeys (libsignal `state/prekey.rs`, `state/signed_prekey.rs`).
 *
 * Storage formats (proto/quintet/protocol/storage.proto, same field numbers
 * as libsignal's `PreKeyRecordStructure` / `SignedPreKeyRecordStructure`):
 *
 *   PreKeyRecord       { 1: id, 2: public key (33), 3: private key (33, tagged) }
 *   SignedPreKeyRecord { 1: id, 2: public key, 3: private key,
 *                        4: signature (64), 5: timestamp (fixed64, ms) }
 *
 * The private key uses `PrivateKey.toStorageBytes()` (tag byte + 32 bytes).
 */
import { copyBytes } from './bytes.js';
import { PrivateKey, PublicKey, type KeyPair } from './curve.js';
import { ProtocolError } from './errors.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

const REDACTED_PREKEY = '[PreKeyRecord]';
const REDACTED_SIGNED = '[SignedPreKeyRecord]';
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const SIGNATURE_LENGTH = 64;

/** Turns a key parse failure inside a stored record into 'invalid-state': the fault is local. */
function storedKeyPair(publicBytes: Uint8Array, privateBytes: Uint8Array): KeyPair {
  try {
    return {
      publicKey: PublicKey.deserialize(publicBytes),
      privateKey: PrivateKey.fromStorageBytes(privateBytes),
    };
  } catch (cause) {
    throw new ProtocolError('invalid-state', 'stored prekey has an invalid key', { cause });
  }
}

/** A one-time prekey: used by at most one X3DH, then removed. */
export class PreKeyRecord {
  constructor(
    readonly id: number,
    readonly keyPair: KeyPair,
  ) {}

  /** `PreKeyRecord` bytes for a store. */
  serialize(): Uint8Array {
    return new ProtoWriter(96)
      .uint(1, this.id)
      .bytes(2, this.keyPair.publicKey.serialize())
      .bytes(3, this.keyPair.privateKey.toStorageBytes())
      .finish();
  }

  /** Parses stored bytes; `ProtocolError('invalid-state')` on anything malformed. */
  static deserialize(bytes: Uint8Array): PreKeyRecord {
    if (!(bytes instanceof Uint8Array))
      throw new ProtocolError('invalid-state', 'prekey record must be bytes');
    const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
    let id: number | undefined;
    let pub: Uint8Array | undefined;
    let priv: Uint8Array | undefined;
    while (r.more) {
      const f = r.next();
      if (f.field === 1) id = asUint32(r, f);
      else if (f.field === 2) pub = asBytes(r, f);
      else if (f.field === 3) priv = asBytes(r, f);
    }
    if (id === undefined || pub === undefined || priv === undefined)
      r.fail('PreKeyRecord incomplete');
    return new PreKeyRecord(id, storedKeyPair(pub, priv));
  }

  /** A placeholder: the record holds a private key. */
  toString(): string {
    return REDACTED_PREKEY;
  }

  /** A placeholder: the record holds a private key. */
  toJSON(): string {
    return REDACTED_PREKEY;
  }

  /** A placeholder for `util.inspect`. */
  [INSPECT](): string {
    return REDACTED_PREKEY;
  }
}

/** A medium-term prekey signed by the identity key (X3DH §3.2 "SPK"). */
export class SignedPreKeyRecord {
  constructor(
    readonly id: number,
    readonly keyPair: KeyPair,
    /** XEdDSA signature by the identity key over `keyPair.publicKey.serialize()`. */
    readonly signature: Uint8Array,
    /** Creation time (ms since the epoch), for rotation. */
    readonly timestamp: number,
  ) {}

  /** `SignedPreKeyRecord` bytes for a store. */
  serialize(): Uint8Array {
    return new ProtoWriter(192)
      .uint(1, this.id)
      .bytes(2, this.keyPair.publicKey.serialize())
      .bytes(3, this.keyPair.privateKey.toStorageBytes())
      .bytes(4, this.signature)
      .fixed64(5, this.timestamp)
      .finish();
  }

  /** Parses stored bytes; `ProtocolError('invalid-state')` on anything malformed. */
  static deserialize(bytes: Uint8Array): SignedPreKeyRecord {
    if (!(bytes instanceof Uint8Array))
      throw new ProtocolError('invalid-state', 'signed prekey record must be bytes');
    const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
    let id: number | undefined;
    let pub: Uint8Array | undefined;
    let priv: Uint8Array | undefined;
    let signature: Uint8Array | undefined;
    let timestamp = 0;
    while (r.more) {
      const f = r.next();
      if (f.field === 1) id = asUint32(r, f);
      else if (f.field === 2) pub = asBytes(r, f);
      else if (f.field === 3) priv = asBytes(r, f);
      else if (f.field === 4) signature = asBytes(r, f);
      else if (f.field === 5) {
        if (f.wireType !== 1) r.fail('timestamp must be fixed64');
        timestamp = f.value;
      }
    }
    if (id === undefined || pub === undefined || priv === undefined || signature === undefined) {
      r.fail('SignedPreKeyRecord incomplete');
    }
    if (signature.length !== SIGNATURE_LENGTH) r.fail('signature must be 64 bytes');
    return new SignedPreKeyRecord(id, storedKeyPair(pub, priv), copyBytes(signature), timestamp);
  }

  /** A placeholder: the record holds a private key. */
  toString(): string {
    return REDACTED_SIGNED;
  }

  /** A placeholder: the record holds a private key. */
  toJSON(): string {
    return REDACTED_SIGNED;
  }

  /** A placeholder for `util.inspect`. */
  [INSPECT](): string {
    return REDACTED_SIGNED;
  }
}
