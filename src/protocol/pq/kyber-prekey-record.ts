/**
 * KEM prekeys for PQXDH (PQXDH spec §3.2 "signed one-time / last-resort
 * post-quantum prekeys"; libsignal `state/kyber_prekey.rs`).
 *
 * Stored exactly as libsignal stores a `KyberPreKeyRecord`: its
 * `SignedPreKeyRecordStructure` (storage.proto), with KEM keys in place of
 * Curve25519 ones:
 *
 *   { 1: id, 2: public key (type ‖ 1568), 3: secret key (type ‖ 3168),
 *     4: signature (64), 5: timestamp (fixed64, ms) }
 *
 * The signature is XEdDSA by the identity key over the serialized public key
 * *including* its type byte, so a server cannot swap the key or its type.
 */
import type { CryptoProvider } from '../../crypto/provider.js';
import { copyBytes } from '../bytes.js';
import type { ProtocolContext } from '../context.js';
import { sign, verify, type KeyPair, type PublicKey } from '../curve.js';
import { ProtocolError } from '../errors.js';
import { MAX_PREKEY_ID } from '../prekeys.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from '../wire.js';
import {
  generateKemKeyPair,
  KemKeyType,
  KemPublicKey,
  KemSecretKey,
  type KemKeyPair,
} from './kem.js';

const SIGNATURE_LENGTH = 64;
const REDACTED = '[KyberPreKeyRecord]';
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** A signed KEM prekey with its secret key. */
export class KyberPreKeyRecord {
  constructor(
    readonly id: number,
    readonly keyPair: KemKeyPair,
    /** XEdDSA signature by the identity key over `keyPair.publicKey.serialize()`. */
    readonly signature: Uint8Array,
    /** Creation time (ms since the epoch), for rotation. */
    readonly timestamp: number,
  ) {}

  /** `SignedPreKeyRecordStructure` bytes, byte-identical to libsignal's. */
  serialize(): Uint8Array {
    return new ProtoWriter(4900)
      .uint(1, this.id)
      .bytes(2, this.keyPair.publicKey.serialize())
      .bytes(3, this.keyPair.secretKey.serialize())
      .bytes(4, this.signature)
      .fixed64(5, this.timestamp)
      .finish();
  }

  /** Parses stored bytes; `ProtocolError('invalid-state')` on anything malformed. */
  static deserialize(bytes: Uint8Array): KyberPreKeyRecord {
    if (!(bytes instanceof Uint8Array)) {
      throw new ProtocolError('invalid-state', 'KEM prekey record must be bytes');
    }
    const r: ProtoReader = new ProtoReader(bytes, 'invalid-state');
    let id: number | undefined;
    let pub: Uint8Array | undefined;
    let secret: Uint8Array | undefined;
    let signature: Uint8Array | undefined;
    let timestamp = 0;
    while (r.more) {
      const f = r.next();
      if (f.field === 1) id = asUint32(r, f);
      else if (f.field === 2) pub = asBytes(r, f);
      else if (f.field === 3) secret = asBytes(r, f);
      else if (f.field === 4) signature = asBytes(r, f);
      else if (f.field === 5) {
        if (f.wireType !== 1) r.fail('timestamp must be fixed64');
        timestamp = f.value;
      }
    }
    if (id === undefined || pub === undefined || secret === undefined || signature === undefined) {
      r.fail('KyberPreKeyRecord incomplete');
    }
    if (signature.length !== SIGNATURE_LENGTH) r.fail('signature must be 64 bytes');
    let keyPair: KemKeyPair;
    try {
      keyPair = {
        publicKey: KemPublicKey.deserialize(pub),
        secretKey: KemSecretKey.deserialize(secret),
      };
    } catch (cause) {
      throw new ProtocolError('invalid-state', 'stored KEM prekey has an invalid key', { cause });
    }
    if (keyPair.publicKey.type !== keyPair.secretKey.type) {
      r.fail('KEM public and secret key types differ');
    }
    return new KyberPreKeyRecord(id, keyPair, copyBytes(signature), timestamp);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [INSPECT](): string {
    return REDACTED;
  }
}

/**
 * A fresh signed KEM prekey (Kyber1024 unless told otherwise), stamped with
 * `ctx.clock`. Draws 64 bytes for the KEM key, then what signing needs.
 */
export async function generateKyberPreKey(
  ctx: ProtocolContext,
  identityKeyPair: KeyPair,
  id: number,
  type: KemKeyType = KemKeyType.kyber1024,
): Promise<KyberPreKeyRecord> {
  if (!Number.isInteger(id) || id < 0 || id > MAX_PREKEY_ID) {
    throw new RangeError(`KEM prekey id must be an integer in 0..${MAX_PREKEY_ID}`);
  }
  const keyPair = generateKemKeyPair(ctx.random, type);
  const signature = await sign(
    ctx.crypto,
    identityKeyPair.privateKey,
    keyPair.publicKey.serialize(),
    ctx.random,
  );
  return new KyberPreKeyRecord(id, keyPair, signature, ctx.clock.now());
}

/**
 * Parses a KEM prekey from a bundle and checks its signature. Throws
 * 'invalid-key' for a malformed or unknown-type key and 'invalid-signature'
 * when the identity key did not sign it: without this check a server could
 * hand out its own KEM key and the post-quantum secret would be its.
 */
export async function verifiedKemPreKey(
  crypto: CryptoProvider,
  identityKey: PublicKey,
  serializedPublicKey: Uint8Array,
  signature: Uint8Array,
): Promise<KemPublicKey> {
  const publicKey = KemPublicKey.deserialize(serializedPublicKey);
  if (!(await verify(crypto, identityKey, publicKey.serialize(), copyBytes(signature)))) {
    throw new ProtocolError('invalid-signature', 'KEM prekey signature does not verify');
  }
  return publicKey;
}
