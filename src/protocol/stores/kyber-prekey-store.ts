/**
 * KEM prekeys for PQXDH (libsignal `storage/traits.rs` `KyberPreKeyStore`;
 * PQXDH spec §3.2 and §4.5 on last-resort keys).
 *
 * A device publishes one-time KEM prekeys and one last-resort KEM prekey
 * that the server hands out once the one-time ones run out. After PQXDH
 * has produced a session from one, the session cipher reports it through
 * `markKyberPreKeyUsed`: a one-time key is then gone, a last-resort key is
 * kept, and the store remembers (signed prekey id, base key) for it so
 * the same prekey message cannot start a session twice — the replay a
 * reusable KEM key would otherwise allow (libsignal `ReusedBaseKey`).
 */
import type { KyberPreKeyRecord } from '../pq/kyber-prekey-record.js';

/** The KEM prekey store contract. */
export interface KyberPreKeyStore {
  /** The KEM prekey with this id, or undefined (used one-time key, or never made). */
  loadKyberPreKey(id: number): Promise<KyberPreKeyRecord | undefined>;
  /** Stores a one-time KEM prekey (removed by its first use). */
  storeKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void>;
  /** Stores a last-resort KEM prekey (kept after use; replays refused). */
  storeLastResortKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void>;
  /**
   * Records that PQXDH used this KEM prekey with this signed EC prekey and
   * initiator base key (serialized, 33 bytes). Removes a one-time key.
   * Throws 'duplicate-message' when a last-resort key was already used with
   * the same signed prekey id and base key, and 'invalid-prekey-id' for an
   * id the store does not hold; on a throw nothing changes.
   */
  markKyberPreKeyUsed(id: number, signedPreKeyId: number, baseKey: Uint8Array): Promise<void>;
  /** Removes the key (rotation); removing an absent id is not an error. */
  removeKyberPreKey(id: number): Promise<void>;
}
