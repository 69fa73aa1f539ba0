/**
 * The DH ratchet step (Double Ratchet spec §3.3 KDF_RK; libsignal
 * `ratchet/keys.rs` `RootKey::create_chain`):
 *
 *   (root key', chain key) = HKDF-SHA256(ikm = DH(our ratchet, their ratchet),
 *                                        salt = root key,
 *                                        info = "WhisperRatchet", 64)
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { agree, type PrivateKey, type PublicKey } from './curve.js';
import type { ChainKey } from './chain-key.js';

const RATCHET_INFO = new TextEncoder().encode('WhisperRatchet');

/** The output of one DH ratchet step. */
export interface RatchetStep {
  readonly rootKey: Uint8Array;
  readonly chainKey: ChainKey;
}

/** Advances the root key with a fresh DH output and starts a chain at index 0. */
export async function createChain(
  crypto: CryptoProvider,
  rootKey: Uint8Array,
  theirRatchetKey: PublicKey,
  ourRatchetKey: PrivateKey,
): Promise<RatchetStep> {
  const shared = await agree(crypto, ourRatchetKey, theirRatchetKey);
  const okm = await crypto.hkdfSha256(shared, rootKey, RATCHET_INFO, 64);
  return { rootKey: okm.slice(0, 32), chainKey: { key: okm.slice(32, 64), index: 0 } };
}
