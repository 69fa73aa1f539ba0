/**
 * SPQR's authenticator (crate `spqr`, `src/authenticator.rs`): the MACs that
 * bind each epoch's ML-KEM-768 header and ciphertext to the session, so a
 * forged chunk stream is refused once it decodes.
 *
 *   start (epoch 1): root = 32 × 0, then update(1, PQXDH's PQR key)
 *   update(ep, k):   root' ‖ mac key = HKDF-SHA256(salt = 32 × 0,
 *                      ikm = root ‖ k,
 *                      info = "Signal_PQCKA_V1_MLKEM768:Authenticator Update" ‖ ep (u64 BE), 64)
 *   header MAC:      HMAC-SHA256(mac key, "Signal_PQCKA_V1_MLKEM768:ekheader" ‖ ep (u64 BE) ‖ header)
 *   ciphertext MAC:  HMAC-SHA256(mac key, "Signal_PQCKA_V1_MLKEM768:ciphertext" ‖ ep (u64 BE) ‖ ct)
 */
import type { CryptoProvider } from '../../crypto/provider.js';
import { bytesEqual, concatBytes } from '../bytes.js';

const ZERO = new Uint8Array(32);
const UPDATE_INFO = new TextEncoder().encode('Signal_PQCKA_V1_MLKEM768:Authenticator Update');
const HEADER_LABEL = new TextEncoder().encode('Signal_PQCKA_V1_MLKEM768:ekheader');
const CIPHERTEXT_LABEL = new TextEncoder().encode('Signal_PQCKA_V1_MLKEM768:ciphertext');
export const SPQR_MAC_LENGTH = 32;

/** The authenticator's keys. Secret: never logged. */
export interface SpqrAuthenticator {
  readonly rootKey: Uint8Array;
  readonly macKey: Uint8Array;
}

function epochBytes(epoch: number): Uint8Array {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError('SPQR epoch out of range');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(epoch), false);
  return out;
}

/** Mixes `key` into the authenticator for `epoch`. */
export async function updateAuthenticator(
  crypto: CryptoProvider,
  auth: SpqrAuthenticator,
  epoch: number,
  key: Uint8Array,
): Promise<SpqrAuthenticator> {
  const okm = await crypto.hkdfSha256(
    concatBytes(auth.rootKey, key),
    ZERO,
    concatBytes(UPDATE_INFO, epochBytes(epoch)),
    64,
  );
  return { rootKey: okm.slice(0, 32), macKey: okm.slice(32, 64) };
}

/** The authenticator of a new session (spqr `Authenticator::new(auth_key, 1)`). */
export function startAuthenticator(
  crypto: CryptoProvider,
  authKey: Uint8Array,
): Promise<SpqrAuthenticator> {
  return updateAuthenticator(crypto, { rootKey: ZERO, macKey: ZERO }, 1, authKey);
}

function mac(
  crypto: CryptoProvider,
  auth: SpqrAuthenticator,
  label: Uint8Array,
  epoch: number,
  data: Uint8Array,
): Promise<Uint8Array> {
  return crypto.hmacSha256(auth.macKey, concatBytes(label, epochBytes(epoch), data));
}

export function macHeader(
  crypto: CryptoProvider,
  auth: SpqrAuthenticator,
  epoch: number,
  header: Uint8Array,
): Promise<Uint8Array> {
  return mac(crypto, auth, HEADER_LABEL, epoch, header);
}

export function macCiphertext(
  crypto: CryptoProvider,
  auth: SpqrAuthenticator,
  epoch: number,
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  return mac(crypto, auth, CIPHERTEXT_LABEL, epoch, ciphertext);
}

/** Checks a header MAC (public data compared; the key stays secret). */
export async function verifyHeader(
  crypto: CryptoProvider,
  auth: SpqrAuthenticator,
  epoch: number,
  header: Uint8Array,
  expected: Uint8Array,
): Promise<boolean> {
  return bytesEqual(await macHeader(crypto, auth, epoch, header), expected);
}
