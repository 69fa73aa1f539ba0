/**
 * Message keys of the Double Ratchet as libsignal v3 derives them
 * (`rust/protocol/src/ratchet/keys.rs`, `MessageKeys::derive_keys`):
 *
 *   HKDF-SHA256(ikm = seed, salt = none, info = "WhisperMessageKeys", 80)
 *     → AES-256 key (0..32) ‖ HMAC-SHA256 key (32..64) ‖ CBC IV (64..80)
 *
 * The IV comes from the KDF, so encryption draws no randomness. On a
 * version-4 session the SPQR message key, when there is one, is the HKDF
 * salt (libsignal `MessageKeyGenerator::generate_keys`): that is how the
 * post-quantum ratchet is mixed into every message key.
 */
import type { CryptoProvider } from '../crypto/provider.js';

const MESSAGE_KEYS_INFO = new TextEncoder().encode('WhisperMessageKeys');
const NO_SALT = new Uint8Array(0);

/** The per-message secrets. Never logged or serialized; only the seed is stored. */
export interface MessageKeys {
  readonly cipherKey: Uint8Array;
  readonly macKey: Uint8Array;
  readonly iv: Uint8Array;
  /** The chain index the keys belong to (the message's `counter`). */
  readonly counter: number;
}

/**
 * Expands a 32-byte message-key seed (HMAC(chain key, 0x01)) into the keys;
 * `pqrKey` is the SPQR key of the message (v4 only; none means no salt).
 */
export async function deriveMessageKeys(
  crypto: CryptoProvider,
  seed: Uint8Array,
  counter: number,
  pqrKey: Uint8Array = NO_SALT,
): Promise<MessageKeys> {
  const okm = await crypto.hkdfSha256(seed, pqrKey, MESSAGE_KEYS_INFO, 80);
  return {
    cipherKey: okm.subarray(0, 32),
    macKey: okm.subarray(32, 64),
    iv: okm.subarray(64, 80),
    counter,
  };
}
