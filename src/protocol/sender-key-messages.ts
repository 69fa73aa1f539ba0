/**
 * The two Sender Keys wire messages, in libsignal-client's current format
 * (`protocol.rs`, `wire.proto`):
 *
 *   SenderKeyDistributionMessage = 0x33 ‖ protobuf{distribution_uuid, chain_id,
 *                                  iteration, chain_key (32), signing_key (33)}
 *   SenderKeyMessage             = 0x33 ‖ protobuf{distribution_uuid, chain_id,
 *                                  iteration, ciphertext} ‖ signature (64)
 *
 * The version byte is (message version << 4) | current version, both 3. The
 * signature is XEdDSA by the sender's signing key over every byte before it.
 * Decoders check every field where the bytes enter and throw only
 * `ProtocolError`, so a caller can feed them untrusted input.
 *
 * The protobuf is written by hand with `wire.ts` (fields in number order, as
 * prost writes them) because it sits on every group message; the normative
 * schema is proto/quintet/protocol/sender-keys.proto and a test checks this
 * codec against the code `buf generate` makes from it.
 */
import { PublicKey } from './curve.js';
import {
  distributionIdFromBytes,
  distributionIdToBytes,
  type DistributionId,
} from './sender-key-distribution-id.js';
import { SENDER_CHAIN_KEY_LENGTH } from './sender-key-chain.js';
import { ProtocolError } from './errors.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter } from './wire.js';

/** The only Sender Keys message version libsignal-client speaks today. */
export const SENDER_KEY_MESSAGE_VERSION = 3;
/** Length of the XEdDSA signature that ends a `SenderKeyMessage`. */
export const SENDER_KEY_SIGNATURE_LENGTH = 64;
/** Serialized length of the signing key in a distribution message: 0x05 ‖ 32 bytes. */
const SIGNING_KEY_LENGTH = 33;

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

function versionByte(version: number): number {
  return ((version & 0xf) << 4) | SENDER_KEY_MESSAGE_VERSION;
}

/**
 * Checks the high nibble of the first byte. libsignal reads only the high
 * nibble too, so the two accept exactly the same messages.
 */
function checkVersion(first: number): number {
  const version = first >> 4;
  if (version !== SENDER_KEY_MESSAGE_VERSION) {
    throw new ProtocolError(
      'invalid-version',
      version < SENDER_KEY_MESSAGE_VERSION
        ? `legacy sender key message version ${version}`
        : `unknown sender key message version ${version}`,
    );
  }
  return version;
}

/** The fields both messages share, plus the two that differ (4: bytes, 5: bytes). */
interface WireFields {
  distributionUuid?: Uint8Array;
  chainId?: number;
  iteration?: number;
  field4?: Uint8Array;
  field5?: Uint8Array;
}

/**
 * Decodes either wire message. As in prost, a repeated field keeps its last
 * value and unknown fields are skipped; a known field of the wrong wire type
 * or a uint32 out of range is malformed.
 */
function decodeWire(body: Uint8Array): WireFields {
  const reader = new ProtoReader(body, 'invalid-message');
  const out: WireFields = {};
  while (reader.more) {
    const f = reader.next();
    switch (f.field) {
      case 1:
        out.distributionUuid = asBytes(reader, f);
        break;
      case 2:
        out.chainId = asUint32(reader, f);
        break;
      case 3:
        out.iteration = asUint32(reader, f);
        break;
      case 4:
        out.field4 = asBytes(reader, f);
        break;
      case 5:
        out.field5 = asBytes(reader, f);
        break;
      default:
        break;
    }
  }
  return out;
}

/** Encodes the shared header fields 1..3 then the message's own fields. */
function encodeWire(
  version: number,
  id: DistributionId,
  chainId: number,
  iteration: number,
  tail: (w: ProtoWriter) => void,
): Uint8Array {
  const body = ProtoWriter.encode((writer) => {
    writer.bytes(1, distributionIdToBytes(id)).uint(2, chainId).uint(3, iteration);
    tail(writer);
  });
  const out = new Uint8Array(1 + body.length);
  out[0] = versionByte(version);
  out.set(body, 1);
  return out;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new ProtocolError('invalid-message', `${what} is missing`);
  return value;
}

/** Fields of a `SenderKeyMessage` before signing. */
export interface SenderKeyMessageFields {
  readonly messageVersion: number;
  readonly distributionId: DistributionId;
  readonly chainId: number;
  readonly iteration: number;
  readonly ciphertext: Uint8Array;
}

/**
 * A parsed group message. Exposes the routing fields (distribution id, chain
 * id, iteration) without decrypting, so a caller can find the sender key
 * session or report a missing one before any secret work.
 */
export class SenderKeyMessage implements SenderKeyMessageFields {
  private constructor(
    readonly messageVersion: number,
    readonly distributionId: DistributionId,
    readonly chainId: number,
    readonly iteration: number,
    readonly ciphertext: Uint8Array,
    /** The full wire bytes, signature included. */
    readonly serialized: Uint8Array,
  ) {}

  /**
   * The unsigned wire bytes (version byte ‖ protobuf) for `fields`; the
   * caller signs them and appends the signature with `withSignature`.
   */
  static encodeUnsigned(fields: SenderKeyMessageFields): Uint8Array {
    return encodeWire(
      fields.messageVersion,
      fields.distributionId,
      fields.chainId,
      fields.iteration,
      (w) => w.bytes(4, fields.ciphertext),
    );
  }

  /** Appends a 64-byte signature to the output of `encodeUnsigned`. */
  static withSignature(unsigned: Uint8Array, signature: Uint8Array): Uint8Array {
    if (signature.length !== SENDER_KEY_SIGNATURE_LENGTH) {
      throw new ProtocolError('invalid-signature', 'sender key signature must be 64 bytes');
    }
    const out = new Uint8Array(unsigned.length + SENDER_KEY_SIGNATURE_LENGTH);
    out.set(unsigned, 0);
    out.set(signature, unsigned.length);
    return out;
  }

  /** Parses wire bytes. Throws `ProtocolError` (invalid-message / invalid-version) on anything malformed. */
  static deserialize(bytes: Uint8Array): SenderKeyMessage {
    if (!(bytes instanceof Uint8Array) || bytes.length < 1 + SENDER_KEY_SIGNATURE_LENGTH) {
      throw new ProtocolError('invalid-message', 'sender key message is too short');
    }
    const version = checkVersion(bytes[0] ?? 0);
    // Copy once so later changes to the caller's buffer cannot change what
    // was verified (and so parsed fields never alias the caller's memory).
    const serialized = bytes.slice();
    const wire = decodeWire(
      serialized.subarray(1, serialized.length - SENDER_KEY_SIGNATURE_LENGTH),
    );
    return new SenderKeyMessage(
      version,
      distributionIdFromBytes(required(wire.distributionUuid, 'distribution id')),
      required(wire.chainId, 'chain id'),
      required(wire.iteration, 'iteration'),
      required(wire.field4, 'ciphertext'),
      serialized,
    );
  }

  /** The bytes the signature covers: everything but the last 64 bytes. */
  get signedContent(): Uint8Array {
    return this.serialized.subarray(0, this.serialized.length - SENDER_KEY_SIGNATURE_LENGTH);
  }

  /** The trailing 64-byte XEdDSA signature. */
  get signature(): Uint8Array {
    return this.serialized.subarray(this.serialized.length - SENDER_KEY_SIGNATURE_LENGTH);
  }
}

/** Fields of a `SenderKeyDistributionMessage`. */
export interface SenderKeyDistributionMessageFields {
  readonly messageVersion: number;
  readonly distributionId: DistributionId;
  readonly chainId: number;
  readonly iteration: number;
  /** Secret: the 32-byte chain key at `iteration`. */
  readonly chainKey: Uint8Array;
  readonly signingKey: PublicKey;
}

/**
 * A parsed sender key distribution message: what a group member sends each
 * other member (inside a 1:1 session) so they can read its group messages.
 * It carries a chain key, so it prints nothing secret.
 */
export class SenderKeyDistributionMessage implements SenderKeyDistributionMessageFields {
  private constructor(
    readonly messageVersion: number,
    readonly distributionId: DistributionId,
    readonly chainId: number,
    readonly iteration: number,
    readonly chainKey: Uint8Array,
    readonly signingKey: PublicKey,
    /** The wire bytes. */
    readonly serialized: Uint8Array,
  ) {}

  /** Builds and serializes a distribution message. */
  static create(fields: SenderKeyDistributionMessageFields): SenderKeyDistributionMessage {
    const serialized = encodeWire(
      fields.messageVersion,
      fields.distributionId,
      fields.chainId,
      fields.iteration,
      (w) => w.bytes(4, fields.chainKey).bytes(5, fields.signingKey.serialize()),
    );
    return new SenderKeyDistributionMessage(
      fields.messageVersion,
      fields.distributionId,
      fields.chainId,
      fields.iteration,
      fields.chainKey.slice(),
      fields.signingKey,
      serialized,
    );
  }

  /**
   * Parses wire bytes. Throws `ProtocolError` (invalid-message,
   * invalid-version, invalid-key) on anything malformed.
   */
  static deserialize(bytes: Uint8Array): SenderKeyDistributionMessage {
    // libsignal's minimum: a version byte, a chain key and an X25519 key.
    if (!(bytes instanceof Uint8Array) || bytes.length < 1 + 32 + 32) {
      throw new ProtocolError('invalid-message', 'sender key distribution message is too short');
    }
    const version = checkVersion(bytes[0] ?? 0);
    const serialized = bytes.slice();
    const wire = decodeWire(serialized.subarray(1));
    const chainKey = required(wire.field4, 'chain key');
    const signingKey = required(wire.field5, 'signing key');
    if (chainKey.length !== SENDER_CHAIN_KEY_LENGTH || signingKey.length !== SIGNING_KEY_LENGTH) {
      throw new ProtocolError('invalid-message', 'chain key or signing key has the wrong length');
    }
    return new SenderKeyDistributionMessage(
      version,
      distributionIdFromBytes(required(wire.distributionUuid, 'distribution id')),
      required(wire.chainId, 'chain id'),
      required(wire.iteration, 'iteration'),
      chainKey.slice(),
      parsePublicKey(signingKey),
      serialized,
    );
  }

  /** Names the routing fields only; the chain key stays out of logs. */
  toString(): string {
    return `SenderKeyDistributionMessage(${this.distributionId}, chain ${this.chainId}, iteration ${this.iteration})`;
  }

  /** JSON carries no key material. */
  toJSON(): Record<string, unknown> {
    return {
      distributionId: this.distributionId,
      chainId: this.chainId,
      iteration: this.iteration,
    };
  }

  /** `util.inspect` (console.log) shows the same as `toString`. */
  [INSPECT](): string {
    return this.toString();
  }
}

/** A signing key from the wire: anything `PublicKey` rejects is an invalid key. */
function parsePublicKey(bytes: Uint8Array): PublicKey {
  try {
    return PublicKey.deserialize(bytes);
  } catch (cause) {
    if (ProtocolError.is(cause)) throw cause;
    throw new ProtocolError('invalid-key', 'signing key is not a valid public key', { cause });
  }
}
