/**
 * ML-KEM-768 in the split ("incremental") form SPQR sends it in (crate
 * `spqr`, `src/incremental_mlkem768.rs`, over libcrux's
 * `mlkem768::incremental`; layouts from libcrux `ind_cca/incremental/types.rs`):
 *
 *   header (64)  = ρ ‖ H(ek)          — libcrux `pk1`: the matrix seed and the key hash
 *   ek (1152)    = ByteEncode12(t̂)    — libcrux `pk2`: the standard key without ρ
 *   dk (2400)    = the standard FIPS 203 decapsulation key dk_PKE ‖ ek ‖ H(ek) ‖ z
 *   ct1 (960)    = the ciphertext's u part, computable from the header alone
 *   ct2 (128)    = the ciphertext's v part, which needs t̂
 *   ct1 ‖ ct2    = the standard 1088-byte ciphertext; the shared secret is standard ML-KEM's
 *
 * The point of the split: the encapsulating side answers with ct1 as soon as
 * the 64-byte header is in, long before the 1152-byte key has streamed over,
 * and the peer's state machine waits for that first ct1 chunk before it
 * starts sending the key — so a side that could not produce ct1 early would
 * stall every epoch.
 *
 * `@noble/post-quantum` has no incremental API. Everything but ct1 is its
 * public API on the standard layouts. ct1 = ByteEncode10(Compress10(NTT⁻¹(Âᵀ ∘
 * r̂) + e₁)) (FIPS 203 Algorithm 14, lines 9–19 and 21) with the coins r of
 * Algorithm 17 (`(K, r) = G(m ‖ H(ek))`); noble exposes the primitives it is
 * built from (SampleNTT, SamplePolyCBD, NTT, NTT⁻¹, MultiplyNTTs, Compress,
 * ByteEncode) as `__tests`, and this module only composes them with
 * coefficient additions mod q. That composition is cross-checked on every
 * epoch: `encapsulate2` runs noble's complete encapsulation with the same m
 * once the key is in and refuses to go on unless its first 960 bytes are our
 * ct1 and its shared secret ours.
 */
import { ml_kem768, __tests as nobleInternals } from '@noble/post-quantum/ml-kem.js';
import { sha3_256, sha3_512, shake256 } from '@noble/hashes/sha3.js';
import type { RandomSource } from '../../crypto/provider.js';
import { bytesEqual, concatBytes } from '../bytes.js';
import { ProtocolError } from '../errors.js';

export const MLKEM768_HEADER_LENGTH = 64;
export const MLKEM768_EK_LENGTH = 1152;
export const MLKEM768_DK_LENGTH = 2400;
export const MLKEM768_CT1_LENGTH = 960;
export const MLKEM768_CT2_LENGTH = 128;
/** What `encapsulate1` keeps until the key arrives: m ‖ ct1 ‖ shared secret. */
export const MLKEM768_ENCAPS_STATE_LENGTH = 32 + MLKEM768_CT1_LENGTH + 32;

const K = 3;
const Q = 3329;
const ETA = 2; // η₁ = η₂ = 2 for ML-KEM-768
const DU = 10;

/** The typed view of the noble primitives composed here (FIPS 203 names). */
interface NoblePieces {
  readonly SampleNTT: (b: Uint8Array) => ArrayLike<number>;
  readonly SamplePolyCBD: (b: Uint8Array, eta: number) => ArrayLike<number>;
  readonly NTT: (f: ArrayLike<number>) => ArrayLike<number>;
  readonly NTT_inv: (f: ArrayLike<number>) => ArrayLike<number>;
  readonly MultiplyNTTs: (f: ArrayLike<number>, g: ArrayLike<number>) => ArrayLike<number>;
  readonly Compress_d: (x: number, d: number) => number;
  readonly ByteEncode_d: (f: ArrayLike<number>, d: number) => Uint8Array;
  readonly ByteDecode_d: (b: Uint8Array, d: number) => ArrayLike<number>;
}

const PIECE_NAMES = [
  'SampleNTT',
  'SamplePolyCBD',
  'NTT',
  'NTT_inv',
  'MultiplyNTTs',
  'Compress_d',
  'ByteEncode_d',
  'ByteDecode_d',
] as const;

function isPieces(value: unknown): value is NoblePieces {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return PIECE_NAMES.every((name) => typeof record[name] === 'function');
}

const internals: unknown = nobleInternals;
let cachedPieces: NoblePieces | undefined;
function pieces(): NoblePieces {
  if (cachedPieces !== undefined) return cachedPieces;
  // A noble release that drops or renames these fails loudly here, not with wrong bytes.
  if (!isPieces(internals)) {
    throw new ProtocolError('invalid-state', 'ML-KEM primitives unavailable in this noble build');
  }
  cachedPieces = internals;
  return internals;
}

/** One epoch's key pair in split form. Secret: `dk`. */
export interface SplitKeyPair {
  readonly header: Uint8Array;
  readonly ek: Uint8Array;
  readonly dk: Uint8Array;
}

/** A fresh key pair: exactly one draw of 64 bytes (d ‖ z). */
export function generateSplitKeyPair(random: RandomSource): SplitKeyPair {
  const seed = random(64);
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  seed.fill(0);
  const ek = publicKey.slice(0, MLKEM768_EK_LENGTH);
  const rho = publicKey.subarray(MLKEM768_EK_LENGTH);
  return { header: concatBytes(rho, sha3_256(publicKey)), ek, dk: secretKey };
}

/** Whether `ek` is the key `header` announced (libcrux `validate_pk_bytes`). */
export function ekMatchesHeader(ek: Uint8Array, header: Uint8Array): boolean {
  if (ek.length !== MLKEM768_EK_LENGTH || header.length !== MLKEM768_HEADER_LENGTH) return false;
  const publicKey = concatBytes(ek, header.subarray(0, 32));
  if (!bytesEqual(sha3_256(publicKey), header.subarray(32, 64))) return false;
  return modulusCheck(ek);
}

/**
 * FIPS 203 §7.2's modulus check of an encapsulation key: ByteEncode₁₂(
 * ByteDecode₁₂(t̂)) = t̂, i.e. no 12-bit coefficient ≥ q (ByteDecode₁₂
 * reduces mod q, so only such a coefficient changes in the round trip).
 * The same test noble runs before it encapsulates, composed from its own
 * coders, without expanding the matrix Â from ρ as a prepared key would.
 */
function modulusCheck(ek: Uint8Array): boolean {
  const p = pieces();
  const polyBytes = MLKEM768_EK_LENGTH / K;
  for (let i = 0; i < K; i++) {
    const encoded = ek.subarray(i * polyBytes, (i + 1) * polyBytes);
    if (!bytesEqual(p.ByteEncode_d(p.ByteDecode_d(encoded, 12), 12), encoded)) return false;
  }
  return true;
}

/**
 * Compress₁₀ of every x in [0, q), from noble's `Compress_d`, built on first
 * use: ct1 compresses 768 coefficients per encapsulation, and noble's test
 * export builds its coder anew on every call.
 */
let compressTable: Uint16Array | undefined;

function compressDu(x: number): number {
  const p = pieces();
  if (compressTable === undefined) {
    const table = new Uint16Array(Q);
    for (let v = 0; v < Q; v++) table[v] = p.Compress_d(v, DU);
    compressTable = table;
  }
  // Coefficients here are reduced mod q; anything else goes to noble itself.
  return x >= 0 && x < Q ? (compressTable[x] ?? 0) : p.Compress_d(x, DU);
}

function addInto(acc: Uint16Array, poly: ArrayLike<number>): void {
  for (let i = 0; i < acc.length; i++) acc[i] = ((acc[i] ?? 0) + (poly[i] ?? 0)) % Q;
}

function prf(seed: Uint8Array, nonce: number): Uint8Array {
  return shake256
    .create({ dkLen: 64 * ETA })
    .update(seed)
    .update(Uint8Array.of(nonce))
    .digest();
}

/** ct1 = the u part of K-PKE.Encrypt under matrix seed ρ with coins r. */
function ciphertext1(rho: Uint8Array, coins: Uint8Array): Uint8Array {
  const p = pieces();
  const rHat: ArrayLike<number>[] = [];
  for (let i = 0; i < K; i++) rHat.push(p.NTT(p.SamplePolyCBD(prf(coins, i), ETA)));
  const out = new Uint8Array(MLKEM768_CT1_LENGTH);
  for (let i = 0; i < K; i++) {
    const acc = new Uint16Array(256);
    for (let j = 0; j < K; j++) {
      // Âᵀ[i][j] = Â[j][i] = SampleNTT(ρ ‖ i ‖ j) (FIPS 203 Algorithm 14, line 6).
      addInto(
        acc,
        p.MultiplyNTTs(p.SampleNTT(concatBytes(rho, Uint8Array.of(i, j))), rHat[j] ?? []),
      );
    }
    const u = new Uint16Array(p.NTT_inv(acc));
    addInto(u, p.SamplePolyCBD(prf(coins, K + i), ETA));
    const compressed = Array.from(u, compressDu);
    out.set(p.ByteEncode_d(compressed, DU), (i * 256 * DU) / 8);
  }
  return out;
}

/** The first half of an encapsulation: ct1, the state to finish it, and the shared secret. */
export interface FirstEncapsulation {
  readonly ct1: Uint8Array;
  /** Secret: m ‖ ct1 ‖ shared secret, kept until `encapsulate2`. */
  readonly state: Uint8Array;
  readonly sharedSecret: Uint8Array;
}

/** Encapsulates to a header alone: exactly one draw of 32 bytes (m). */
export function encapsulate1(header: Uint8Array, random: RandomSource): FirstEncapsulation {
  if (header.length !== MLKEM768_HEADER_LENGTH) {
    throw new ProtocolError('invalid-message', 'ML-KEM-768 header must be 64 bytes');
  }
  const m = random(32);
  const kr = sha3_512(concatBytes(m, header.subarray(32, 64)));
  const sharedSecret = kr.slice(0, 32);
  const ct1 = ciphertext1(header.subarray(0, 32), kr.subarray(32, 64));
  kr.fill(0);
  const state = concatBytes(m, ct1, sharedSecret);
  m.fill(0);
  return { ct1, state, sharedSecret };
}

/**
 * The second half: ct2 from the key and the state. The caller has checked
 * `ekMatchesHeader`. Throws 'invalid-state' if noble's full encapsulation
 * disagrees with the first half (a broken composition must never yield a
 * secret the peer cannot derive).
 */
export function encapsulate2(ek: Uint8Array, header: Uint8Array, state: Uint8Array): Uint8Array {
  if (state.length !== MLKEM768_ENCAPS_STATE_LENGTH || ek.length !== MLKEM768_EK_LENGTH) {
    throw new ProtocolError('invalid-state', 'ML-KEM-768 encapsulation state is malformed');
  }
  const m = state.slice(0, 32);
  const ct1 = state.subarray(32, 32 + MLKEM768_CT1_LENGTH);
  const secret = state.subarray(32 + MLKEM768_CT1_LENGTH);
  let full: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    full = ml_kem768.encapsulate(concatBytes(ek, header.subarray(0, 32)), m);
  } catch (cause) {
    throw new ProtocolError('invalid-key', 'ML-KEM-768 key refused', { cause });
  } finally {
    m.fill(0);
  }
  const agrees =
    bytesEqual(full.cipherText.subarray(0, MLKEM768_CT1_LENGTH), ct1) &&
    bytesEqual(full.sharedSecret, secret);
  full.sharedSecret.fill(0);
  if (!agrees) throw new ProtocolError('invalid-state', 'ML-KEM-768 split encapsulation mismatch');
  return full.cipherText.slice(MLKEM768_CT1_LENGTH);
}

/** Decapsulates ct1 ‖ ct2 with `dk` (implicit rejection: a bad ciphertext gives a wrong secret). */
export function decapsulateSplit(dk: Uint8Array, ct1: Uint8Array, ct2: Uint8Array): Uint8Array {
  if (
    dk.length !== MLKEM768_DK_LENGTH ||
    ct1.length !== MLKEM768_CT1_LENGTH ||
    ct2.length !== MLKEM768_CT2_LENGTH
  ) {
    throw new ProtocolError('invalid-message', 'ML-KEM-768 ciphertext or key of the wrong length');
  }
  try {
    return ml_kem768.decapsulate(concatBytes(ct1, ct2), dk);
  } catch (cause) {
    throw new ProtocolError('invalid-state', 'ML-KEM-768 decapsulation key refused', { cause });
  }
}
