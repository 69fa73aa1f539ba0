/**
 * The sender chain KDF of libsignal's Sender Keys (`sender_keys.rs`):
 *
 *   message-key seed = HMAC-SHA256(chain key, 0x01)
 *   next chain key   = HMAC-SHA256(chain key, 0x02)
 *   HKDF-SHA256(ikm = seed, salt = none, info = "WhisperGroup", 48 bytes)
 *     → IV (bytes 0..16) ‖ AES-256 key (bytes 16..48)
 *
 * A receiver stores only the 32-byte seed of a skipped message key and runs
 * the HKDF when the message arrives, as libsignal does.
 */
import type { CryptoProvider } from '../crypto/provider.js';

/** Length of a chain key and of a message-key seed. */
export const SENDER_CHAIN_KEY_LENGTH = 32;

const MESSAGE_KEY_SEED_LABEL = new Uint8Array([0x01]);
const CHAIN_KEY_SEED_LABEL = new Uint8Array([0x02]);
const WHISPER_GROUP_INFO = new TextEncoder().encode('WhisperGroup');
const NO_SALT = new Uint8Array(0);

/** The AES-256-CBC key and IV for one iteration. Secret; never logged. */
export interface SenderMessageKeys {
  readonly iv: Uint8Array;
  readonly cipherKey: Uint8Array;
}

/** The message-key seed of the chain key's own iteration. */
export function senderMessageKeySeed(
  crypto: CryptoProvider,
  chainKey: Uint8Array,
): Promise<Uint8Array> {
  return crypto.hmacSha256(chainKey, MESSAGE_KEY_SEED_LABEL);
}

/** The chain key of the next iteration. */
export function nextSenderChainKey(
  crypto: CryptoProvider,
  chainKey: Uint8Array,
): Promise<Uint8Array> {
  return crypto.hmacSha256(chainKey, CHAIN_KEY_SEED_LABEL);
}

/** Expands a message-key seed into the IV and key ("WhisperGroup" HKDF). */
export async function senderMessageKeys(
  crypto: CryptoProvider,
  seed: Uint8Array,
): Promise<SenderMessageKeys> {
  const derived = await crypto.hkdfSha256(seed, NO_SALT, WHISPER_GROUP_INFO, 48);
  return { iv: derived.subarray(0, 16), cipherKey: derived.subarray(16, 48) };
}
