/**
 * Session records, one per remote device (libsignal `storage/traits.rs`
 * `SessionStore`).
 */
import type { DeviceId, ProtocolAddress } from '../address.js';
import type { SessionRecord } from '../session-record.js';

/**
 * The session store contract. `loadSession` returns an independent copy:
 * changing it changes nothing stored until `storeSession`, which is what
 * lets a failed decryption leave the store untouched.
 */
export interface SessionStore {
  loadSession(address: ProtocolAddress): Promise<SessionRecord | undefined>;
  storeSession(address: ProtocolAddress, record: SessionRecord): Promise<void>;
  /** Deletes the record of one device; deleting an absent one is not an error. */
  deleteSession(address: ProtocolAddress): Promise<void>;
  /** Deletes the records of every device of an account. */
  deleteAllSessions(name: string): Promise<void>;
  /** Device ids of `name` that have a stored record, ascending. */
  listDeviceIds(name: string): Promise<DeviceId[]>;
}
