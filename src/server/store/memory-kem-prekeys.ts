/** In-memory implementation of `KemPreKeyStore` (tests and single-process servers). */
import type { CheckedDeviceKeys } from './initial-keys.js';
import { deviceKey, takeLowest } from './memory-key-maps.js';
import { StoreError, type KemPreKeyRecord, type KemPreKeyStore } from './types.js';

/**
 * Plain copies both ways (`slice` of a Node Buffer would be a view), so a
 * caller mutating its bytes cannot change what is stored.
 */
function copy(key: KemPreKeyRecord): KemPreKeyRecord {
  return {
    id: key.id,
    publicKey: new Uint8Array(key.publicKey),
    signature: new Uint8Array(key.signature),
  };
}

/** KEM prekeys in maps; every call is atomic because nothing in it awaits. */
export class MemoryKemPreKeyStore implements KemPreKeyStore {
  private readonly lastResort = new Map<string, KemPreKeyRecord>();
  private readonly oneTime = new Map<string, Map<number, KemPreKeyRecord>>();

  /** `check` throws `StoreError('closed')` once the store is closed. */
  constructor(private readonly check: () => void) {}

  async setLastResortKemPreKey(
    account: string,
    deviceId: number,
    key: KemPreKeyRecord,
  ): Promise<void> {
    this.check();
    this.lastResort.set(deviceKey(account, deviceId), copy(key));
  }

  async getLastResortKemPreKey(
    account: string,
    deviceId: number,
  ): Promise<KemPreKeyRecord | undefined> {
    this.check();
    const key = this.lastResort.get(deviceKey(account, deviceId));
    return key === undefined ? undefined : copy(key);
  }

  async addOneTimeKemPreKeys(
    account: string,
    deviceId: number,
    keys: readonly KemPreKeyRecord[],
    maxStored: number,
  ): Promise<number> {
    this.check();
    const k = deviceKey(account, deviceId);
    const existing = this.oneTime.get(k) ?? new Map<number, KemPreKeyRecord>();
    const newIds = new Set(keys.map((key) => key.id).filter((id) => !existing.has(id)));
    if (existing.size + newIds.size > maxStored) {
      throw new StoreError(
        'limit-exceeded',
        'too many one-time KEM prekeys stored for this device',
      );
    }
    for (const key of keys) existing.set(key.id, copy(key));
    this.oneTime.set(k, existing);
    return existing.size;
  }

  async takeOneTimeKemPreKey(
    account: string,
    deviceId: number,
  ): Promise<KemPreKeyRecord | undefined> {
    this.check();
    return takeLowest(this.oneTime.get(deviceKey(account, deviceId)));
  }

  async countOneTimeKemPreKeys(account: string, deviceId: number): Promise<number> {
    this.check();
    return this.oneTime.get(deviceKey(account, deviceId))?.size ?? 0;
  }

  /**
   * A new device's keys, replacing any of its id (synchronous: the account
   * store calls it in the same step as the device write).
   */
  replaceDevice(account: string, deviceId: number, keys: CheckedDeviceKeys): void {
    const k = deviceKey(account, deviceId);
    this.lastResort.delete(k);
    this.oneTime.delete(k);
    if (keys.lastResortKemPreKey !== undefined)
      this.lastResort.set(k, copy(keys.lastResortKemPreKey));
    if (keys.oneTimeKemPreKeys.length > 0) {
      this.oneTime.set(k, new Map(keys.oneTimeKemPreKeys.map((key) => [key.id, copy(key)])));
    }
  }

  async deleteDevice(account: string, deviceId: number): Promise<void> {
    this.check();
    this.lastResort.delete(deviceKey(account, deviceId));
    this.oneTime.delete(deviceKey(account, deviceId));
  }
}
