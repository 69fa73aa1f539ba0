/**
 * PQXDH key agreement (Signal's PQXDH spec §3.3 for the initiator, §3.4 for
 * the responder; libsignal `rust/protocol/src/pqxdh.rs` `pqxdh_initiate` /
 * `pqxdh_accept`):
 *
 *   secret = 32 × 0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS
 *     DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)
 *     DH4 = DH(EK_A, OPK_B)  (only when a one-time EC prekey was used)
 *     SS  = the KEM shared secret encapsulated to Bob's KEM prekey
 *   root key ‖ chain key ‖ PQR key =
 *     HKDF-SHA256(secret, salt = none,
 *                 info = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024", 96)
 *
 * The label is libsignal's instance of the spec's "Protocol_CURVE_HASH_PQKEM"
 * info string; it stays "CRYSTALS-KYBER-1024" whatever the KEM type. The
 * third 32 bytes key the SPQR ratchet (its authentication key and the seed
 * of its epoch-0 chains); a session that ignores them is not libsignal's.
 *
 * Pure: the caller passes the ephemeral key pair, and the KEM draws its 32
 * bytes from `ctx.random`. Nothing is stored here.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes } from '../bytes.js';
import type { ProtocolContext } from '../context.js';
import { agree, type KeyPair, type PublicKey } from '../curve.js';
import { ProtocolError } from '../errors.js';
import { montgomeryToEdwards } from '../xeddsa.js';
import { encapsulate, type KemPublicKey, type KemSecretKey } from './kem.js';

export const PQXDH_INFO = new TextEncoder().encode(
  'WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024',
);
const NO_SALT = new Uint8Array(0);
const DISCONTINUITY = new Uint8Array(32).fill(0xff);

/** The three keys a PQXDH run yields. Secret: never logged. */
export interface PqxdhKeys {
  readonly rootKey: Uint8Array;
  /** The first receiving chain of the initiator, the first sending chain of the responder. */
  readonly chainKey: Uint8Array;
  /** The SPQR ratchet's initial key. */
  readonly pqrKey: Uint8Array;
}

/** The initiator's inputs (Alice, who fetched Bob's bundle). */
export interface PqxdhInitiatorParameters {
  readonly ourIdentityKeyPair: KeyPair;
  /** EK_A: drawn by the caller, sent as the base key. */
  readonly ourBaseKeyPair: KeyPair;
  readonly theirIdentityKey: PublicKey;
  readonly theirSignedPreKey: PublicKey;
  readonly theirOneTimePreKey: PublicKey | undefined;
  /** Already checked against its signature (`verifiedKemPreKey`). */
  readonly theirKemPreKey: KemPublicKey;
}

/** The responder's inputs (Bob, who received the first message). */
export interface PqxdhResponderParameters {
  readonly ourIdentityKeyPair: KeyPair;
  readonly ourSignedPreKeyPair: KeyPair;
  readonly ourOneTimePreKeyPair: KeyPair | undefined;
  readonly ourKemPreKey: KemSecretKey;
  readonly theirIdentityKey: PublicKey;
  readonly theirBaseKey: PublicKey;
  /** The serialized ciphertext from the message (`type ‖ c`). */
  readonly theirKemCiphertext: Uint8Array;
}

async function deriveKeys(ctx: ProtocolContext, parts: readonly Uint8Array[]): Promise<PqxdhKeys> {
  const secret = concatBytes(DISCONTINUITY, ...parts);
  const okm = await ctx.crypto.hkdfSha256(secret, NO_SALT, PQXDH_INFO, 96);
  secret.fill(0);
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64), pqrKey: okm.slice(64, 96) };
}

/**
 * Alice's side: the keys and the KEM ciphertext to send. Draws 32 bytes
 * (the KEM's) from `ctx.random`; 'invalid-key' if Bob's KEM key is refused.
 */
export async function pqxdhInitiate(
  ctx: ProtocolContext,
  p: PqxdhInitiatorParameters,
): Promise<{ readonly keys: PqxdhKeys; readonly kemCiphertext: Uint8Array }> {
  const { crypto } = ctx;
  const parts = [
    await agree(crypto, p.ourIdentityKeyPair.privateKey, p.theirSignedPreKey),
    await agree(crypto, p.ourBaseKeyPair.privateKey, p.theirIdentityKey),
    await agree(crypto, p.ourBaseKeyPair.privateKey, p.theirSignedPreKey),
  ];
  if (p.theirOneTimePreKey !== undefined) {
    parts.push(await agree(crypto, p.ourBaseKeyPair.privateKey, p.theirOneTimePreKey));
  }
  const { ciphertext, sharedSecret } = encapsulate(p.theirKemPreKey, ctx.random);
  parts.push(sharedSecret);
  const keys = await deriveKeys(ctx, parts);
  for (const part of parts) part.fill(0);
  return { keys, kemCiphertext: ciphertext };
}

/**
 * Bob's side. Refuses a base key that is not canonical ('invalid-key'), as
 * libsignal's `pqxdh_accept` does, and a malformed KEM ciphertext
 * ('invalid-message', before any DH or lattice work).
 */
export async function pqxdhAccept(
  ctx: ProtocolContext,
  p: PqxdhResponderParameters,
): Promise<PqxdhKeys> {
  if (!isCanonicalPublicKey(p.theirBaseKey)) {
    throw new ProtocolError('invalid-key', 'base key is not a canonical curve point');
  }
  // Decapsulate first: it checks the ciphertext's type and length, so a bad
  // ciphertext is refused before any other work.
  const sharedSecret = p.ourKemPreKey.decapsulate(p.theirKemCiphertext);
  const { crypto } = ctx;
  const parts = [
    await agree(crypto, p.ourSignedPreKeyPair.privateKey, p.theirIdentityKey),
    await agree(crypto, p.ourIdentityKeyPair.privateKey, p.theirBaseKey),
    await agree(crypto, p.ourSignedPreKeyPair.privateKey, p.theirBaseKey),
  ];
  if (p.ourOneTimePreKeyPair !== undefined) {
    parts.push(await agree(crypto, p.ourOneTimePreKeyPair.privateKey, p.theirBaseKey));
  }
  parts.push(sharedSecret);
  const keys = await deriveKeys(ctx, parts);
  for (const part of parts) part.fill(0);
  return keys;
}

/**
 * libsignal's `PublicKey::is_canonical` (`rust/core/src/curve.rs`): u < p
 * with bit 255 clear, on the curve (not the twist), and free of torsion. A
 * non-canonical encoding of a point gives the same X25519 output as the
 * canonical one, so accepting it would let one base key appear under several
 * encodings (and match no stored session); a torsion component lets a peer
 * steer low bits of the agreement.
 */
export function isCanonicalPublicKey(key: PublicKey): boolean {
  const u = key.raw;
  if (((u[31] ?? 0) & 0x80) !== 0) return false;
  const edwards = montgomeryToEdwards(u, 0);
  if (edwards === undefined) return false;
  try {
    return ed25519.Point.fromBytes(edwards).isTorsionFree();
  } catch {
    return false; // y does not decompress: u is on the twist
  }
}
