/**
 * Safety numbers: libsignal's numeric fingerprints (rust/protocol/src/
 * fingerprint.rs, the format Signal and libsignal-client produce), so two
 * users compare identity keys by reading 60 digits or scanning a QR code.
 *
 * Per side, with the identity key K serialized as `0x05 ‖ u` (33 bytes) and
 * the stable identifier ID (e.g. a UUID's bytes or an account name):
 *
 *   H_1 = SHA-512(0x00 0x00 ‖ K ‖ ID ‖ K)        (hash version 0, u16 BE)
 *   H_i = SHA-512(H_{i−1} ‖ K)   for i = 2 … iterations (default 5200)
 *
 * Displayable: the first 30 bytes of H as six 5-byte big-endian numbers, each
 * mod 100000 as 5 digits → 30 digits per side; the two halves are sorted and
 * concatenated so both users see the same 60 digits.
 *
 * Scannable: the protobuf `CombinedFingerprints { uint32 version = 1;
 * LogicalFingerprint local = 2; LogicalFingerprint remote = 3; }` with
 * `LogicalFingerprint { bytes content = 1; }` holding the first 32 bytes of
 * each side's H. A scanner checks that the other phone's "local" is its own
 * "remote" and vice versa.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { CryptoProvider } from '../crypto/provider.js';
import type { PublicKey } from './curve.js';
import { ProtocolError } from './errors.js';

/** The scannable format version libsignal (and Signal) use today. */
export const DEFAULT_FINGERPRINT_VERSION = 2;
/** The iteration count Signal uses; both sides must agree on it. */
export const DEFAULT_FINGERPRINT_ITERATIONS = 5200;

/** The hash-input version prefix (libsignal's FINGERPRINT_VERSION = 0, as a u16). */
const HASH_VERSION = Uint8Array.of(0x00, 0x00);
const SCANNABLE_CONTENT_LENGTH = 32;
const DIGITS_BYTES = 30;
/**
 * libsignal's accepted iteration range: fewer than 2 would make the hash
 * chain trivial, more than a million is a denial of service on the caller.
 */
const MIN_ITERATIONS = 2;
const MAX_ITERATIONS = 1_000_000;

/** Inputs of `createFingerprint`. */
export interface FingerprintInput {
  /** Scannable format version; default 2. */
  readonly version?: number;
  /** SHA-512 iterations per side; default 5200. */
  readonly iterations?: number;
  readonly localIdentifier: Uint8Array;
  readonly localKey: PublicKey;
  readonly remoteIdentifier: Uint8Array;
  readonly remoteKey: PublicKey;
}

/** A safety number in both of its forms. */
export interface Fingerprint {
  /** 60 decimal digits, the same string on both phones. */
  readonly displayable: string;
  /** The `CombinedFingerprints` protobuf bytes for a QR code. */
  readonly scannable: Uint8Array;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The iterated hash of one side (see the module comment). */
async function sideHash(
  crypto: CryptoProvider,
  iterations: number,
  identifier: Uint8Array,
  key: PublicKey,
): Promise<Uint8Array> {
  const keyBytes = key.serialize();
  let hash = await crypto.sha512(concat([HASH_VERSION, keyBytes, identifier, keyBytes]));
  // One buffer reused for H ‖ K: the loop runs thousands of times.
  const input = new Uint8Array(hash.length + keyBytes.length);
  input.set(keyBytes, hash.length);
  for (let i = 1; i < iterations; i++) {
    input.set(hash, 0);
    hash = await crypto.sha512(input);
  }
  return hash;
}

/** Six 5-digit groups from the first 30 bytes (big-endian 40-bit chunks mod 10^5). */
function digits(hash: Uint8Array): string {
  let out = '';
  for (let offset = 0; offset < DIGITS_BYTES; offset += 5) {
    let chunk = 0;
    // 40 bits fit exactly in a double, so plain arithmetic is exact.
    for (let i = 0; i < 5; i++) chunk = chunk * 256 + (hash[offset + i] ?? 0);
    out += String(chunk % 100000).padStart(5, '0');
  }
  return out;
}

function encodeScannable(version: number, local: Uint8Array, remote: Uint8Array): Uint8Array {
  const writer = new BinaryWriter();
  writer.tag(1, WireType.Varint).uint32(version);
  writer
    .tag(2, WireType.LengthDelimited)
    .fork()
    .tag(1, WireType.LengthDelimited)
    .bytes(local)
    .join();
  writer
    .tag(3, WireType.LengthDelimited)
    .fork()
    .tag(1, WireType.LengthDelimited)
    .bytes(remote)
    .join();
  return writer.finish();
}

function checkCount(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer in ${min}..${max}`);
  }
}

/**
 * Computes the safety number of a conversation between the local and the
 * remote identity, exactly as libsignal's `Fingerprint::new`.
 */
export async function createFingerprint(
  crypto: CryptoProvider,
  input: FingerprintInput,
): Promise<Fingerprint> {
  const version = input.version ?? DEFAULT_FINGERPRINT_VERSION;
  const iterations = input.iterations ?? DEFAULT_FINGERPRINT_ITERATIONS;
  checkCount(version, 0, 0xffffffff, 'fingerprint version');
  checkCount(iterations, MIN_ITERATIONS, MAX_ITERATIONS, 'fingerprint iterations');
  const [local, remote] = await Promise.all([
    sideHash(crypto, iterations, input.localIdentifier, input.localKey),
    sideHash(crypto, iterations, input.remoteIdentifier, input.remoteKey),
  ]);
  const localDigits = digits(local);
  const remoteDigits = digits(remote);
  const displayable =
    localDigits <= remoteDigits ? localDigits + remoteDigits : remoteDigits + localDigits;
  const scannable = encodeScannable(
    version,
    local.slice(0, SCANNABLE_CONTENT_LENGTH),
    remote.slice(0, SCANNABLE_CONTENT_LENGTH),
  );
  return { displayable, scannable };
}

/** A parsed `CombinedFingerprints`. */
interface Scannable {
  readonly version: number;
  readonly local: Uint8Array;
  readonly remote: Uint8Array;
}

function invalid(message: string, cause?: unknown): ProtocolError {
  return new ProtocolError('invalid-message', message, cause === undefined ? undefined : { cause });
}

function parseLogical(bytes: Uint8Array): Uint8Array {
  const reader = new BinaryReader(bytes);
  let content: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) content = reader.bytes();
    else reader.skip(wireType, field);
  }
  if (content?.length !== SCANNABLE_CONTENT_LENGTH) {
    throw invalid('scanned fingerprint content must be 32 bytes');
  }
  return content;
}

/**
 * Parses scanned bytes. Unknown fields are skipped (protobuf rules); missing
 * or wrongly sized fingerprints are refused, since no honest client sends them.
 */
function parseScannable(bytes: Uint8Array): Scannable {
  let version: number | undefined;
  let local: Uint8Array | undefined;
  let remote: Uint8Array | undefined;
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WireType.Varint) version = reader.uint32();
      else if (field === 2 && wireType === WireType.LengthDelimited)
        local = parseLogical(reader.bytes());
      else if (field === 3 && wireType === WireType.LengthDelimited)
        remote = parseLogical(reader.bytes());
      else reader.skip(wireType, field);
    }
  } catch (cause) {
    if (ProtocolError.is(cause)) throw cause;
    throw invalid('scanned fingerprint does not parse', cause);
  }
  if (local === undefined || remote === undefined) {
    throw invalid('scanned fingerprint lacks a side');
  }
  // proto2/proto3 default: an absent version field is version 0.
  return { version: version ?? 0, local, remote };
}

function equalNoEarlyExit(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Compares our scannable fingerprint with one scanned from the other phone:
 * true when their "local" is our "remote" and their "remote" our "local".
 * `ProtocolError('invalid-message')` on bytes that do not parse or lack a
 * side; `ProtocolError('invalid-version')` when the versions differ (as
 * libsignal's `FingerprintVersionMismatch`, so the UI can say "update the
 * app" rather than "keys differ").
 */
export function compareScannable(ours: Uint8Array, scanned: Uint8Array): boolean {
  const mine = parseScannable(ours);
  const theirs = parseScannable(scanned);
  if (mine.version !== theirs.version) {
    throw new ProtocolError(
      'invalid-version',
      `fingerprint version ${theirs.version} differs from ours (${mine.version})`,
    );
  }
  const first = equalNoEarlyExit(theirs.local, mine.remote);
  const second = equalNoEarlyExit(theirs.remote, mine.local);
  return first && second;
}
