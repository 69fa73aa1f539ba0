/** In-memory implementation of `PreKeyStore` (tests and single-process servers). */
import type { CheckedDeviceKeys } from './initial-keys.js';
import { deviceKey, takeLowest } from './memory-key-maps.js';
import {
  StoreError,
  type OneTimePreKeyRecord,
  type PreKeyStore,
  type SignedPreKeyRecord,
} from './types.js';

/** Prekeys in maps; every call is atomic because nothing in it awaits. */
export class MemoryPreKeyStore implements PreKeyStore {
  private readonly signed = new Map<string, SignedPreKeyRecord>();
  private readonly oneTime = new Map<string, Map<number, OneTimePreKeyRecord>>();
  /** `check` throws `StoreError('closed')` once the store is closed. */
  constructor(private readonly check: () => void) {}

  async setSignedPreKey(account: string, deviceId: number, key: SignedPreKeyRecord): Promise<void> {
    this.check();
    this.signed.set(deviceKey(account, deviceId), {
      id: key.id,
      publicKey: key.publicKey.slice(),
      signature: key.signature.slice(),
    });
  }

  async getSignedPreKey(
    account: string,
    deviceId: number,
  ): Promise<SignedPreKeyRecord | undefined> {
    this.check();
    const key = this.signed.get(deviceKey(account, deviceId));
    return key === undefined
      ? undefined
      : { id: key.id, publicKey: key.publicKey.slice(), signature: key.signature.slice() };
  }

  async addOneTimePreKeys(
    account: string,
    deviceId: number,
    keys: readonly OneTimePreKeyRecord[],
    maxStored: number,
  ): Promise<number> {
    this.check();
    const k = deviceKey(account, deviceId);
    const existing = this.oneTime.get(k) ?? new Map<number, OneTimePreKeyRecord>();
    const newIds = new Set(keys.map((key) => key.id).filter((id) => !existing.has(id)));
    if (existing.size + newIds.size > maxStored) {
      throw new StoreError('limit-exceeded', 'too many one-time prekeys stored for this device');
    }
    for (const key of keys) existing.set(key.id, { id: key.id, publicKey: key.publicKey.slice() });
    this.oneTime.set(k, existing);
    return existing.size;
  }

  async takeOneTimePreKey(
    account: string,
    deviceId: number,
  ): Promise<OneTimePreKeyRecord | undefined> {
    this.check();
    return takeLowest(this.oneTime.get(deviceKey(account, deviceId)));
  }

  async countOneTimePreKeys(account: string, deviceId: number): Promise<number> {
    this.check();
    return this.oneTime.get(deviceKey(account, deviceId))?.size ?? 0;
  }

  /**
   * A new device's keys, replacing any of its id (synchronous: the account
   * store calls it in the same step as the device write).
   */
  replaceDevice(account: string, deviceId: number, keys: CheckedDeviceKeys): void {
    const k = deviceKey(account, deviceId);
    this.signed.delete(k);
    this.oneTime.delete(k);
    const signed = keys.signedPreKey;
    if (signed !== undefined) {
      this.signed.set(k, {
        id: signed.id,
        publicKey: signed.publicKey.slice(),
        signature: signed.signature.slice(),
      });
    }
    if (keys.oneTimePreKeys.length > 0) {
      this.oneTime.set(
        k,
        new Map(
          keys.oneTimePreKeys.map((key) => [
            key.id,
            { id: key.id, publicKey: key.publicKey.slice() },
          ]),
        ),
      );
    }
  }

  async deleteDevice(account: string, deviceId: number): Promise<void> {
    this.check();
    this.signed.delete(deviceKey(account, deviceId));
    this.oneTime.delete(deviceKey(account, deviceId));
  }
}
