/**
 * Distribution ids name one sender-key session ("this sender, this group
 * membership epoch"). The API takes them as UUID text; the wire carries the
 * 16 raw bytes, as libsignal does (`Uuid::as_bytes`).
 */
import { ProtocolError } from './errors.js';

/** A distribution id in canonical form: lower-case hyphenated UUID text. */
export type DistributionId = string & { readonly __brand: 'DistributionId' };

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = '0123456789abcdef';
/** Offsets of the 32 hex digits in canonical UUID text. */
const DIGIT_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/**
 * Checks UUID text (any case) and returns its canonical lower-case form, so
 * "ABC…" and "abc…" address the same stored record.
 */
export function distributionId(text: string): DistributionId {
  if (typeof text !== 'string' || !UUID_TEXT.test(text)) {
    throw new ProtocolError('invalid-message', 'distribution id is not a UUID');
  }
  return text.toLowerCase() as DistributionId;
}

function hexValue(code: number): number {
  // '0'..'9' → 0..9, 'a'..'f' → 10..15 (canonical text is lower case).
  return code <= 57 ? code - 48 : code - 87;
}

/** The 16 wire bytes of a distribution id. */
export function distributionIdToBytes(id: DistributionId): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const at = DIGIT_OFFSETS[i] ?? 0;
    out[i] = (hexValue(id.charCodeAt(at)) << 4) | hexValue(id.charCodeAt(at + 1));
  }
  return out;
}

/** Reads 16 wire bytes as a distribution id; any other length is a malformed message. */
export function distributionIdFromBytes(bytes: Uint8Array): DistributionId {
  if (bytes.length !== 16) {
    throw new ProtocolError('invalid-message', 'distribution id must be 16 bytes');
  }
  let text = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += '-';
    const byte = bytes[i] ?? 0;
    text += (HEX[byte >> 4] ?? '') + (HEX[byte & 15] ?? '');
  }
  return text as DistributionId;
}
