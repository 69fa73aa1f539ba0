/**
 * Encoders and strict decoders for the five ADV protobuf messages
 * (proto/quintet/v1/adv.proto, which is the normative description).
 *
 * Decoding rules, and the attack each one stops:
 * - Every failure is an `AdvError('invalid-message')`: these bytes come from
 *   the server or a peer, so a malformed message must never crash the caller.
 * - A singular field that appears twice is refused. Protobuf parsers differ
 *   on "first wins" vs "last wins"; refusing duplicates means no two
 *   implementations can read different values out of the same signed bytes.
 * - Fixed-size fields (keys, signatures, the HMAC) are length-checked here,
 *   where bytes enter, before any cryptography runs.
 * - Inside signed `details`, unknown fields are skipped (protobuf forward
 *   compatibility): the signatures cover those bytes as a whole.
 * - The three unsigned wrappers (signed identity, HMAC payload, signed list)
 *   must be in canonical form: re-encoding the decoded fields must give the
 *   input back. Nothing authenticates the wrapper itself, so this refuses
 *   unknown fields, reordering and over-long varints that would otherwise
 *   let a relay make many byte strings for one identity (breaking
 *   deduplication by hash, or smuggling data alongside a valid signature).
 * - `details` is returned exactly as received (copied, never re-encoded),
 *   because the signatures and the linking HMAC cover those exact bytes.
 */
import { bytesEqual } from '../bytes.js';
import { ProtocolError } from '../errors.js';
import { asBytes, asUint32, ProtoReader, ProtoWriter, type ProtoField } from '../wire.js';
import { AdvError } from './errors.js';

/** Length of a raw Curve25519 public key in ADV messages (no 0x05 type byte). */
export const ADV_PUBLIC_KEY_LENGTH = 32;
/** Length of an XEdDSA signature. */
export const ADV_SIGNATURE_LENGTH = 64;
/** Length of the linking HMAC (HMAC-SHA256). */
export const ADV_HMAC_LENGTH = 32;

/** `ADVEncryptionType`: Quintet only accepts `E2EE` (0). */
export const AdvEncryptionType = { e2ee: 0, hosted: 1 } as const;

/** `ADVDeviceIdentity`: what the primary states about one companion. */
export interface AdvDeviceIdentity {
  /** Random 32-bit id of the account-key epoch. */
  readonly rawId: number;
  /** Seconds since the Unix epoch. */
  readonly timestamp: number;
  /** The companion's key index (the primary's own index is 0). */
  readonly keyIndex: number;
}

/** `ADVSignedDeviceIdentity`. `details` is the exact signed `ADVDeviceIdentity` bytes. */
export interface AdvSignedDeviceIdentity {
  readonly details: Uint8Array;
  /** Raw 32-byte account (primary identity) key, when present. */
  readonly accountSignatureKey: Uint8Array | undefined;
  /** 64 bytes, when present. */
  readonly accountSignature: Uint8Array | undefined;
  /** 64 bytes, when present (absent in the payload the primary sends to a new companion). */
  readonly deviceSignature: Uint8Array | undefined;
}

/** `ADVSignedDeviceIdentityHMAC`: the linking payload. */
export interface AdvSignedDeviceIdentityHmac {
  /** The exact serialized `ADVSignedDeviceIdentity` the HMAC covers. */
  readonly details: Uint8Array;
  /** HMAC-SHA256(linking secret, details), 32 bytes. */
  readonly hmac: Uint8Array;
}

/** `ADVKeyIndexList`: which companion key indexes are still linked. */
export interface AdvKeyIndexList {
  readonly rawId: number;
  /** Seconds since the Unix epoch. */
  readonly timestamp: number;
  /** The highest key index handed out when the list was signed. */
  readonly currentIndex: number;
  readonly validIndexes: readonly number[];
}

/** `ADVSignedKeyIndexList`. `details` is the exact signed `ADVKeyIndexList` bytes. */
export interface AdvSignedKeyIndexList {
  readonly details: Uint8Array;
  readonly accountSignature: Uint8Array;
  /** Raw 32-byte account key. */
  readonly accountSignatureKey: Uint8Array;
}

const UINT32_MAX = 0xffffffff;

function invalid(what: string, cause?: unknown): AdvError {
  return new AdvError('invalid-message', `malformed ADV message: ${what}`, { cause });
}

/** A uint32 from a local caller: refused with 'invalid-argument' (a bug, not an attack). */
export function checkUint32(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw new AdvError('invalid-argument', `${name} must be an integer in 0..2^32-1`);
  }
  return value;
}

/** A timestamp in seconds from a local caller. */
export function checkTimestamp(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AdvError('invalid-argument', `${name} must be a non-negative integer (seconds)`);
  }
  return value;
}

/**
 * Runs `read` over every field, turning the wire reader's `ProtocolError`
 * into `AdvError('invalid-message')` and refusing repeated singular fields.
 */
function readFields(
  bytes: Uint8Array,
  what: string,
  repeatable: readonly number[],
  read: (reader: ProtoReader, f: ProtoField) => void,
): void {
  if (!(bytes instanceof Uint8Array)) throw invalid(`${what} is not bytes`);
  const seen = new Set<number>();
  try {
    const reader = new ProtoReader(bytes, 'invalid-message');
    while (reader.more) {
      const f = reader.next();
      if (!repeatable.includes(f.field)) {
        if (seen.has(f.field)) reader.fail(`field ${f.field} repeated`);
        seen.add(f.field);
      }
      read(reader, f);
    }
  } catch (cause) {
    if (cause instanceof ProtocolError) throw invalid(`${what}: ${cause.message}`, cause);
    throw cause;
  }
}

function fixedBytes(reader: ProtoReader, f: ProtoField, length: number): Uint8Array {
  const value = asBytes(reader, f);
  if (value.length !== length) reader.fail(`field ${f.field} must be ${length} bytes`);
  return new Uint8Array(value);
}

/** A uint64 timestamp; the wire reader already refuses values past 2^53. */
function asTimestamp(reader: ProtoReader, f: ProtoField): number {
  if (f.wireType !== 0) reader.fail(`field ${f.field} must be a varint`);
  return f.value;
}

/** Refuses a wrapper whose bytes are not exactly its canonical encoding. */
function canonical<T>(bytes: Uint8Array, value: T, encode: (v: T) => Uint8Array, what: string): T {
  if (!bytesEqual(encode(value), bytes)) throw invalid(`${what} is not in canonical form`);
  return value;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw invalid(`${what} is missing`);
  return value;
}

/** Encodes `ADVDeviceIdentity` (types left absent, which means E2EE). */
export function encodeDeviceIdentity(identity: AdvDeviceIdentity): Uint8Array {
  return new ProtoWriter(32)
    .uint(1, checkUint32('rawId', identity.rawId))
    .uint(2, checkTimestamp('timestamp', identity.timestamp))
    .uint(3, checkUint32('keyIndex', identity.keyIndex))
    .finish();
}

/**
 * Decodes `ADVDeviceIdentity`. rawId, timestamp and keyIndex are required.
 * An account or device type other than E2EE is refused: a HOSTED device is
 * one whose keys a service holds, which Quintet never links, so a signed
 * identity claiming it can only be a forgery or a foreign format.
 */
export function decodeDeviceIdentity(bytes: Uint8Array): AdvDeviceIdentity {
  let rawId: number | undefined;
  let timestamp: number | undefined;
  let keyIndex: number | undefined;
  readFields(bytes, 'ADVDeviceIdentity', [], (reader, f) => {
    switch (f.field) {
      case 1:
        rawId = asUint32(reader, f);
        break;
      case 2:
        timestamp = asTimestamp(reader, f);
        break;
      case 3:
        keyIndex = asUint32(reader, f);
        break;
      case 4:
      case 5:
        if (asUint32(reader, f) !== AdvEncryptionType.e2ee) reader.fail('only E2EE devices');
        break;
      default:
        break;
    }
  });
  return {
    rawId: required(rawId, 'rawId'),
    timestamp: required(timestamp, 'timestamp'),
    keyIndex: required(keyIndex, 'keyIndex'),
  };
}

/** Encodes `ADVSignedDeviceIdentity`, writing `details` byte for byte. */
export function encodeSignedDeviceIdentity(signed: AdvSignedDeviceIdentity): Uint8Array {
  const w = new ProtoWriter(192).bytes(1, signed.details);
  if (signed.accountSignatureKey !== undefined) w.bytes(2, signed.accountSignatureKey);
  if (signed.accountSignature !== undefined) w.bytes(3, signed.accountSignature);
  if (signed.deviceSignature !== undefined) w.bytes(4, signed.deviceSignature);
  return w.finish();
}

/**
 * Decodes `ADVSignedDeviceIdentity`: `details` required, the rest
 * length-checked when present, canonical form required.
 */
export function decodeSignedDeviceIdentity(bytes: Uint8Array): AdvSignedDeviceIdentity {
  let details: Uint8Array | undefined;
  let accountSignatureKey: Uint8Array | undefined;
  let accountSignature: Uint8Array | undefined;
  let deviceSignature: Uint8Array | undefined;
  readFields(bytes, 'ADVSignedDeviceIdentity', [], (reader, f) => {
    switch (f.field) {
      case 1:
        details = new Uint8Array(asBytes(reader, f));
        break;
      case 2:
        accountSignatureKey = fixedBytes(reader, f, ADV_PUBLIC_KEY_LENGTH);
        break;
      case 3:
        accountSignature = fixedBytes(reader, f, ADV_SIGNATURE_LENGTH);
        break;
      case 4:
        deviceSignature = fixedBytes(reader, f, ADV_SIGNATURE_LENGTH);
        break;
      default:
        break;
    }
  });
  const value = {
    details: required(details, 'details'),
    accountSignatureKey,
    accountSignature,
    deviceSignature,
  };
  return canonical(bytes, value, encodeSignedDeviceIdentity, 'ADVSignedDeviceIdentity');
}

/** Encodes `ADVSignedDeviceIdentityHMAC`. */
export function encodeSignedDeviceIdentityHmac(payload: AdvSignedDeviceIdentityHmac): Uint8Array {
  return new ProtoWriter(256).bytes(1, payload.details).bytes(2, payload.hmac).finish();
}

/** Decodes `ADVSignedDeviceIdentityHMAC`: both fields required, the HMAC 32 bytes, canonical form. */
export function decodeSignedDeviceIdentityHmac(bytes: Uint8Array): AdvSignedDeviceIdentityHmac {
  let details: Uint8Array | undefined;
  let hmac: Uint8Array | undefined;
  readFields(bytes, 'ADVSignedDeviceIdentityHMAC', [], (reader, f) => {
    if (f.field === 1) details = new Uint8Array(asBytes(reader, f));
    else if (f.field === 2) hmac = fixedBytes(reader, f, ADV_HMAC_LENGTH);
  });
  const value = { details: required(details, 'details'), hmac: required(hmac, 'hmac') };
  return canonical(bytes, value, encodeSignedDeviceIdentityHmac, 'ADVSignedDeviceIdentityHMAC');
}

/** Encodes `ADVKeyIndexList` with `validIndexes` packed. */
export function encodeKeyIndexList(list: AdvKeyIndexList): Uint8Array {
  const w = new ProtoWriter(64)
    .uint(1, checkUint32('rawId', list.rawId))
    .uint(2, checkTimestamp('timestamp', list.timestamp))
    .uint(3, checkUint32('currentIndex', list.currentIndex));
  if (list.validIndexes.length > 0) {
    const packed: number[] = [];
    for (const index of list.validIndexes) {
      pushVarint(packed, checkUint32('validIndexes[]', index));
    }
    w.bytes(4, Uint8Array.from(packed));
  }
  return w.finish();
}

/**
 * Decodes `ADVKeyIndexList`. rawId, timestamp and currentIndex are required;
 * `validIndexes` is read both packed and unpacked (protobuf requires parsers
 * to accept either).
 */
export function decodeKeyIndexList(bytes: Uint8Array): AdvKeyIndexList {
  let rawId: number | undefined;
  let timestamp: number | undefined;
  let currentIndex: number | undefined;
  const validIndexes: number[] = [];
  readFields(bytes, 'ADVKeyIndexList', [4], (reader, f) => {
    switch (f.field) {
      case 1:
        rawId = asUint32(reader, f);
        break;
      case 2:
        timestamp = asTimestamp(reader, f);
        break;
      case 3:
        currentIndex = asUint32(reader, f);
        break;
      case 4:
        if (f.wireType === 0) {
          validIndexes.push(asUint32(reader, f));
        } else {
          readPackedUint32(asBytes(reader, f), validIndexes);
        }
        break;
      default:
        break;
    }
  });
  return {
    rawId: required(rawId, 'rawId'),
    timestamp: required(timestamp, 'timestamp'),
    currentIndex: required(currentIndex, 'currentIndex'),
    validIndexes,
  };
}

/** Appends the varint encoding of a uint32 (protobuf base-128, low group first). */
function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** Reads a packed run of uint32 varints; any overrun or overflow is a typed failure. */
function readPackedUint32(packed: Uint8Array, out: number[]): void {
  let pos = 0;
  while (pos < packed.length) {
    let value = 0;
    let scale = 1;
    for (;;) {
      // A uint32 fits in 5 varint bytes; anything longer is not one.
      if (pos >= packed.length || scale > 0x80 ** 4) throw invalid('bad packed validIndexes');
      const byte = packed[pos++] ?? 0;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
    }
    if (value > UINT32_MAX) throw invalid('validIndexes entry exceeds uint32');
    out.push(value);
  }
}

/** Encodes `ADVSignedKeyIndexList`, writing `details` byte for byte. */
export function encodeSignedKeyIndexList(signed: AdvSignedKeyIndexList): Uint8Array {
  return new ProtoWriter(160)
    .bytes(1, signed.details)
    .bytes(2, signed.accountSignature)
    .bytes(3, signed.accountSignatureKey)
    .finish();
}

/** Decodes `ADVSignedKeyIndexList`: all three fields required and length-checked, canonical form. */
export function decodeSignedKeyIndexList(bytes: Uint8Array): AdvSignedKeyIndexList {
  let details: Uint8Array | undefined;
  let accountSignature: Uint8Array | undefined;
  let accountSignatureKey: Uint8Array | undefined;
  readFields(bytes, 'ADVSignedKeyIndexList', [], (reader, f) => {
    if (f.field === 1) details = new Uint8Array(asBytes(reader, f));
    else if (f.field === 2) accountSignature = fixedBytes(reader, f, ADV_SIGNATURE_LENGTH);
    else if (f.field === 3) accountSignatureKey = fixedBytes(reader, f, ADV_PUBLIC_KEY_LENGTH);
  });
  const value = {
    details: required(details, 'details'),
    accountSignature: required(accountSignature, 'accountSignature'),
    accountSignatureKey: required(accountSignatureKey, 'accountSignatureKey'),
  };
  return canonical(bytes, value, encodeSignedKeyIndexList, 'ADVSignedKeyIndexList');
}
