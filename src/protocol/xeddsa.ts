/**
 * XEdDSA: EdDSA-compatible signatures made and checked with Curve25519 (X25519)
 * keys, as specified in Signal's "The XEdDSA and VXEdDSA Signature Schemes"
 * (revision 1, 2016), §2.3–§2.5, in the wire format libsignal uses.
 *
 * Two halves:
 *
 * - **Verification** is plain Ed25519 once the Montgomery `u` is mapped to an
 *   Edwards point (§2.2 `convert_mont`). libsignal carries the Edwards sign
 *   bit of the signer's key in the top bit of signature byte 63 (unused by
 *   `s < 2^253`), so `curve.ts` builds the Ed25519 key with that sign bit,
 *   clears it in `s`, and lets the platform's Ed25519 verify at native speed.
 * - **Signing with a raw scalar** (a key imported as a bare Curve25519 private
 *   key, with no Ed25519 seed) has no platform primitive, so it is done here
 *   with `@noble/curves` point arithmetic, following §2.3 exactly: the signer's
 *   scalar is negated when needed so that its Edwards key has sign bit 0,
 *   which both spec verifiers and libsignal accept.
 *
 * Keys Quintet generates itself carry an Ed25519 seed and sign natively
 * (see `generateSigningKeyPair` in `curve.ts`); this path is the fallback.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { CryptoProvider } from '../crypto/provider.js';

const Point = ed25519.Point;
const Fp = Point.Fp;
const Fn = Point.Fn;
/** p = 2^255 − 19. */
const P = Fp.ORDER;

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/*
 * Little-endian conversions through one hex string: a single BigInt parse is
 * several times faster than 32 BigInt shift-and-or steps.
 */
function bytesToNumberLE(bytes: Uint8Array): bigint {
  let text = '0x';
  for (let i = bytes.length - 1; i >= 0; i--) text += HEX_BYTE[bytes[i] ?? 0] ?? '00';
  return BigInt(text);
}

/** `n` must be below 2^(8·length). */
function numberToBytesLE(n: bigint, length: number): Uint8Array {
  const text = n.toString(16).padStart(2 * length, '0');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const at = text.length - 2 * (i + 1);
    out[i] = parseInt(text.slice(at, at + 2), 16);
  }
  return out;
}

/**
 * The Montgomery u-coordinates of the points of small order on Curve25519
 * and its twist (0, 1, the two order-8 points, p−1) and the non-canonical
 * encodings p and p+1 of 0 and 1, all below 2^255.
 */
const SMALL_ORDER_U: readonly bigint[] = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
  P,
  P + 1n,
];

/*
 * The same values as 32-byte little-endian encodings, so the check runs on
 * bytes: every public key is checked where it enters (each message's ratchet
 * key, each record load), and a BigInt conversion per key cost more than the
 * rest of parsing it.
 */
const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = SMALL_ORDER_U.map((u) =>
  numberToBytesLE(u, 32),
);

/**
 * True when `u` (32 bytes, little-endian) is a point of small order. Such a
 * key contributes nothing to an agreement (the shared secret is all zeros or
 * fixed) and, mapped to Edwards form, makes signatures anyone can forge; it
 * can only come from an attacker, so keys are refused where they enter.
 * X25519 ignores bit 255 (RFC 7748 §5), so the comparison ignores it too.
 * Public data, so an early exit leaks nothing. `u` must be 32 bytes.
 */
export function isSmallOrderU(u: Uint8Array): boolean {
  // Not a u-coordinate at all: refuse rather than call it safe.
  if (u.length !== 32) return true;
  for (const encoding of SMALL_ORDER_ENCODINGS) {
    let i = 0;
    while (i < 31 && u[i] === encoding[i]) i++;
    if (i === 31 && ((u[31] ?? 0) & 0x7f) === encoding[31]) return true;
  }
  return false;
}

/**
 * XEdDSA §2.2 `convert_mont`, with libsignal's sign bit: the Ed25519 public
 * key encoding whose y = (u − 1)/(u + 1) mod p and whose x has the given sign.
 * Returns `undefined` when no such key can be valid: u ≥ p (§2.5 rejects
 * non-canonical u before anything else) or u = p − 1 (u + 1 has no inverse).
 * Whether the point is on the curve is left to the Ed25519 verifier, which
 * decodes the point anyway and fails closed.
 */
export function montgomeryToEdwards(u: Uint8Array, signBit: 0 | 1): Uint8Array | undefined {
  if (u.length !== 32) return undefined;
  const uValue = bytesToNumberLE(u);
  if (uValue >= P || uValue === P - 1n) return undefined;
  const y = Fp.mul(Fp.sub(uValue, 1n), Fp.inv(Fp.add(uValue, 1n)));
  const out = numberToBytesLE(y, 32);
  out[31] = (out[31] ?? 0) | (signBit << 7);
  return out;
}

/**
 * The Montgomery u of an Ed25519 public key: u = (1 + y)/(1 − y) mod p
 * (RFC 7748 §4.1 birational map). Returns `undefined` for y = 1 (the identity).
 */
export function edwardsToMontgomery(edwardsPublic: Uint8Array): Uint8Array | undefined {
  if (edwardsPublic.length !== 32) return undefined;
  const y = bytesToNumberLE(edwardsPublic) & ((1n << 255n) - 1n);
  if (y >= P) return undefined;
  const denominator = Fp.sub(1n, y);
  if (denominator === 0n) return undefined;
  return numberToBytesLE(Fp.mul(Fp.add(1n, y), Fp.inv(denominator)), 32);
}

/** A raw Curve25519 scalar prepared for XEdDSA signing (§2.3 `calculate_key_pair`). */
export interface XeddsaSigningKey {
  /** The signing scalar a, negated if needed so that A = aB has sign bit 0. */
  readonly a: bigint;
  /** The 32-byte encoding of A (sign bit 0). */
  readonly publicEdwards: Uint8Array;
}

/**
 * XEdDSA §2.3 `calculate_key_pair(k)`: E = kB; if E's sign bit is 1 use
 * a = −k mod q, so that the public Edwards key A always has sign bit 0 and is
 * fully determined by the Montgomery u a verifier holds.
 * `scalar` must be the 32-byte clamped X25519 private key.
 */
export function xeddsaSigningKey(scalar: Uint8Array): XeddsaSigningKey {
  const k = Fn.create(bytesToNumberLE(scalar));
  // A clamped scalar is never ≡ 0 mod q (it is 8·j with j < q); the check
  // only guards against a caller passing an unclamped all-zero array.
  if (k === 0n) throw new RangeError('XEdDSA scalar is zero modulo the group order');
  const e = Point.BASE.multiply(k);
  const eBytes = e.toBytes();
  const negative = ((eBytes[31] ?? 0) & 0x80) !== 0;
  const a = negative ? Fn.neg(k) : k;
  const publicEdwards = negative ? e.negate().toBytes() : eBytes;
  return { a, publicEdwards };
}

/**
 * hash_1 prefix of §2.3: hash_i(X) = SHA-512(2^256 − 1 − i ‖ X), i = 1, the
 * 32-byte little-endian encoding FE FF … FF. It separates the nonce hash from
 * every Ed25519 challenge hash (whose input starts with a point encoding, and
 * no valid point encodes as this value).
 */
const HASH1_PREFIX = (() => {
  const prefix = new Uint8Array(32).fill(0xff);
  prefix[0] = 0xfe;
  return prefix;
})();

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

/**
 * XEdDSA §2.3 `xeddsa_sign(k, M, Z)` with a 64-byte secret random Z:
 *   r = hash_1(a ‖ M ‖ Z) mod q;  R = rB;  h = SHA-512(R ‖ A ‖ M) mod q;
 *   s = r + h·a mod q;  signature = R ‖ s.
 * The random Z makes r unpredictable even if SHA-512 or the scalar were
 * partially leaked, and the hash over a ‖ M keeps r unique per message even
 * with a broken random source.
 */
export async function xeddsaSign(
  crypto: CryptoProvider,
  key: XeddsaSigningKey,
  message: Uint8Array,
  z: Uint8Array,
): Promise<Uint8Array> {
  if (z.length !== 64) throw new RangeError('XEdDSA needs 64 random bytes');
  const aBytes = numberToBytesLE(key.a, 32);
  const r = Fn.create(
    bytesToNumberLE(await crypto.sha512(concat([HASH1_PREFIX, aBytes, message, z]))),
  );
  // r = 0 has probability 2^-252; the identity point would still give a
  // valid signature, but noble's constant-time multiply refuses 0.
  const rPoint = r === 0n ? Point.ZERO : Point.BASE.multiply(r);
  const rBytes = rPoint.toBytes();
  const h = Fn.create(
    bytesToNumberLE(await crypto.sha512(concat([rBytes, key.publicEdwards, message]))),
  );
  const s = Fn.add(r, Fn.mul(h, key.a));
  const signature = new Uint8Array(64);
  signature.set(rBytes, 0);
  signature.set(numberToBytesLE(s, 32), 32);
  return signature;
}
