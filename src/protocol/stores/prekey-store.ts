/**
 * One-time prekeys (libsignal `storage/traits.rs` `PreKeyStore`). A prekey is
 * removed after the X3DH that used it has produced a stored session.
 */
import type { PreKeyRecord } from '../prekey-records.js';

/** The one-time prekey store contract. */
export interface PreKeyStore {
  /** The prekey with this id, or undefined (used or never made). */
  loadPreKey(id: number): Promise<PreKeyRecord | undefined>;
  storePreKey(id: number, record: PreKeyRecord): Promise<void>;
  /** Removes the prekey; removing an absent id is not an error. */
  removePreKey(id: number): Promise<void>;
}
