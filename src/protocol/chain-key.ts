/**
 * The symmetric-key ratchet of one chain (Double Ratchet spec §2.2; libsignal
 * `ratchet/keys.rs` `ChainKey`):
 *
 *   message-key seed = HMAC-SHA256(chain key, 0x01)
 *   next chain key   = HMAC-SHA256(chain key, 0x02)
 *
 * `index` is the counter of the next message the chain key will produce.
 */
import type { CryptoProvider } from '../crypto/provider.js';

const MESSAGE_KEY_SEED = new Uint8Array([0x01]);
const CHAIN_KEY_SEED = new Uint8Array([0x02]);

/** A chain key and its position. Secret: never logged. */
export interface ChainKey {
  readonly key: Uint8Array;
  readonly index: number;
}

/** The seed of the message key at `chain.index`. */
export function messageKeySeed(crypto: CryptoProvider, chain: ChainKey): Promise<Uint8Array> {
  return crypto.hmacSha256(chain.key, MESSAGE_KEY_SEED);
}

/** The chain key one step further. */
export async function nextChainKey(crypto: CryptoProvider, chain: ChainKey): Promise<ChainKey> {
  return { key: await crypto.hmacSha256(chain.key, CHAIN_KEY_SEED), index: chain.index + 1 };
}
