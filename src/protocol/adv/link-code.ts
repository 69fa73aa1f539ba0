/**
 * The linking QR code a new companion shows (linking step 2):
 *
 *     quintet://link#1,<ref>,<identity>,<secret>,<platform>
 *
 * - `1`: format version; anything else is refused.
 * - `<ref>`: the server's opaque linking-session reference, 1–64 characters
 *   of `A–Z a–z 0–9 _ -`.
 * - `<identity>`: the companion's identity public key, 33 bytes
 *   (`0x05 ‖ u`), base64url without padding (44 characters).
 * - `<secret>`: the 32-byte linking secret, base64url without padding
 *   (43 characters).
 * - `<platform>`: a short tag for the device list UI, 1–32 characters of
 *   `a–z 0–9 _ -`.
 *
 * Everything sits after `#` because a URL fragment is never sent to a server
 * if some app opens the link: the linking secret must reach the primary only
 * through the camera, or the server could forge the linking HMAC.
 *
 * The text contains the linking secret: never log it.
 */
import type { ProtocolContext } from '../context.js';
import { PublicKey } from '../curve.js';
import { ProtocolError } from '../errors.js';
import { LINKING_SECRET_LENGTH } from './device-identity.js';
import { AdvError } from './errors.js';

/** The scheme and path every link code starts with. */
export const LINK_CODE_PREFIX = 'quintet://link#';
/** The only link-code format version this code reads and writes. */
export const LINK_CODE_VERSION = '1';
/** Longest accepted link code; refused before any parsing. */
export const MAX_LINK_CODE_LENGTH = 256;

const REF_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const PLATFORM_PATTERN = /^[a-z0-9_-]{1,32}$/;
const IDENTITY_LENGTH = 33;

/** The decoded contents of a link code. */
export interface LinkCode {
  /** The server's opaque linking-session reference. */
  readonly ref: string;
  /** The companion's identity key. */
  readonly identityKey: PublicKey;
  /** The 32-byte linking secret (keep out of logs). */
  readonly linkingSecret: Uint8Array;
  /** A short platform tag, e.g. `cli` or `web`. */
  readonly platform: string;
}

/** A fresh 32-byte linking secret from the context's random source. */
export function newLinkingSecret(ctx: ProtocolContext): Uint8Array {
  const secret = ctx.random(LINKING_SECRET_LENGTH);
  if (secret.length !== LINKING_SECRET_LENGTH) {
    throw new AdvError('invalid-argument', 'random source returned the wrong length');
  }
  return secret;
}

/** True for a server reference that may appear in a link code. */
export function isValidLinkRef(ref: string): boolean {
  return typeof ref === 'string' && REF_PATTERN.test(ref);
}

/** Encodes a link code; `invalid-argument` for a malformed ref, tag or secret. */
export function encodeLinkCode(code: LinkCode): string {
  if (!isValidLinkRef(code.ref)) throw new AdvError('invalid-argument', 'invalid link reference');
  if (typeof code.platform !== 'string' || !PLATFORM_PATTERN.test(code.platform)) {
    throw new AdvError('invalid-argument', 'invalid platform tag');
  }
  if (code.linkingSecret.length !== LINKING_SECRET_LENGTH) {
    throw new AdvError('invalid-argument', `linking secret must be ${LINKING_SECRET_LENGTH} bytes`);
  }
  const parts = [
    LINK_CODE_VERSION,
    code.ref,
    base64UrlEncode(code.identityKey.serialize()),
    base64UrlEncode(code.linkingSecret),
    code.platform,
  ];
  return LINK_CODE_PREFIX + parts.join(',');
}

function bad(what: string, cause?: unknown): AdvError {
  // The message names the part, never its value (the secret is in there).
  return new AdvError('invalid-link-code', `invalid link code: ${what}`, { cause });
}

/**
 * Decodes and validates a scanned link code: prefix, version, part count,
 * every part's charset and length, canonical base64url, and the identity key
 * (type byte, not of small order). Anything else is `invalid-link-code`.
 */
export function decodeLinkCode(text: string): LinkCode {
  if (typeof text !== 'string') throw bad('not text');
  if (text.length > MAX_LINK_CODE_LENGTH) throw bad('too long');
  if (!text.startsWith(LINK_CODE_PREFIX)) throw bad('not a Quintet link code');
  const parts = text.slice(LINK_CODE_PREFIX.length).split(',');
  if (parts.length !== 5) throw bad('wrong number of parts');
  const [version, ref, identity, secret, platform] = parts;
  if (version !== LINK_CODE_VERSION) throw bad('unsupported version');
  if (ref === undefined || !REF_PATTERN.test(ref)) throw bad('reference');
  if (platform === undefined || !PLATFORM_PATTERN.test(platform)) throw bad('platform tag');
  const identityBytes = identity === undefined ? undefined : base64UrlDecode(identity);
  if (identityBytes?.length !== IDENTITY_LENGTH) throw bad('identity key');
  const linkingSecret = secret === undefined ? undefined : base64UrlDecode(secret);
  if (linkingSecret?.length !== LINKING_SECRET_LENGTH) throw bad('linking secret');
  let identityKey: PublicKey;
  try {
    identityKey = PublicKey.deserialize(identityBytes);
  } catch (cause) {
    if (ProtocolError.is(cause, 'invalid-key')) throw bad('identity key', cause);
    throw cause;
  }
  return { ref, identityKey, linkingSecret, platform };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const DECODE = new Map<string, number>(Array.from(ALPHABET, (c, i) => [c, i]));

/** RFC 4648 §5 base64url without padding. */
export function base64UrlEncode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let k = 0; k < chars; k++) out += ALPHABET[(n >> (18 - 6 * k)) & 63] ?? '';
  }
  return out;
}

/**
 * Strict RFC 4648 §5 base64url without padding: `undefined` for any other
 * character, an impossible length, or non-zero unused low bits (so every
 * byte string has exactly one accepted text).
 */
export function base64UrlDecode(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (const c of text) {
    const v = DECODE.get(c);
    if (v === undefined) return undefined;
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}
