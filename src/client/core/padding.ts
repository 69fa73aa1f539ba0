/**
 * Plaintext padding, applied to a serialized `Content` before encryption so
 * ciphertext lengths reveal only a size bucket, not the exact message length
 * (Signal pads to multiples of 160 bytes the same way; WhatsApp uses a short
 * random pad).
 *
 * Layout: content ‖ 0x80 ‖ 0x00… up to the next multiple of `PADDING_BLOCK`.
 * The 0x80 marker is always present, so an empty or block-aligned content
 * still gets a full extra block and unpadding is unambiguous.
 */
import { ClientError } from './errors.js';

/** Padded plaintexts are a multiple of this many bytes. */
export const PADDING_BLOCK = 160;

const MARKER = 0x80;

/** Pads `content` to the next multiple of `PADDING_BLOCK` (always adding at least the marker). */
export function pad(content: Uint8Array): Uint8Array {
  const length = (Math.floor(content.length / PADDING_BLOCK) + 1) * PADDING_BLOCK;
  const out = new Uint8Array(length);
  out.set(content, 0);
  out[content.length] = MARKER;
  return out;
}

/**
 * Strips the padding. Strict: the length must be a non-zero multiple of the
 * block, and everything after the last 0x80 must be zero, so a malformed (or
 * maliciously crafted) plaintext is a typed error, never a silent truncation.
 */
export function unpad(padded: Uint8Array): Uint8Array {
  if (padded.length === 0 || padded.length % PADDING_BLOCK !== 0) {
    throw new ClientError(
      'invalid-padding',
      'padded plaintext length is not a multiple of the block',
    );
  }
  // The marker sits within the last block: scanning further back would
  // accept padding longer than pad() ever writes.
  const floor = padded.length - PADDING_BLOCK;
  for (let i = padded.length - 1; i >= floor; i--) {
    const byte = padded[i];
    if (byte === 0) continue;
    if (byte === MARKER) return padded.slice(0, i);
    break;
  }
  throw new ClientError('invalid-padding', 'padding marker missing or followed by non-zero bytes');
}
