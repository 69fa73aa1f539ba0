/**
 * Signed prekeys (libsignal `storage/traits.rs` `SignedPreKeyStore`). Old ones
 * are kept for a while after rotation so late prekey messages still open.
 */
import type { SignedPreKeyRecord } from '../prekey-records.js';

/** The signed prekey store contract. */
export interface SignedPreKeyStore {
  /** The signed prekey with this id, or undefined. */
  loadSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined>;
  storeSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void>;
  /** Removes a rotated-out signed prekey; removing an absent id is not an error. */
  removeSignedPreKey(id: number): Promise<void>;
}
