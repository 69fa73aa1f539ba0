/**
 * A new device's first keys (`NewDevice.keys`), prepared the same way by
 * every backend before the transaction that writes them with the device
 * row: one record per id (the last of an id wins, as an upload's does) and
 * the per-device bounds checked before anything is written, so a refused
 * write stores neither the keys nor the device.
 */
import {
  StoreError,
  type InitialDeviceKeys,
  type KemPreKeyRecord,
  type OneTimePreKeyRecord,
  type SignedPreKeyRecord,
} from './types.js';

/** What a backend writes for a new device, bounds already checked. */
export interface CheckedDeviceKeys {
  readonly signedPreKey: SignedPreKeyRecord | undefined;
  readonly oneTimePreKeys: readonly OneTimePreKeyRecord[];
  readonly oneTimeKemPreKeys: readonly KemPreKeyRecord[];
  readonly lastResortKemPreKey: KemPreKeyRecord | undefined;
}

/** No keys at all: what a device created without `keys` is written with. */
export const NO_DEVICE_KEYS: CheckedDeviceKeys = {
  signedPreKey: undefined,
  oneTimePreKeys: [],
  oneTimeKemPreKeys: [],
  lastResortKemPreKey: undefined,
};

function lastOfEachId<T extends { readonly id: number }>(keys: readonly T[]): T[] {
  const byId = new Map<number, T>();
  for (const key of keys) byId.set(key.id, key);
  return [...byId.values()];
}

/** Dedupes and bounds `keys`; `StoreError('limit-exceeded')` before any write. */
export function checkDeviceKeys(keys: InitialDeviceKeys | undefined): CheckedDeviceKeys {
  if (keys === undefined) return NO_DEVICE_KEYS;
  const oneTimePreKeys = lastOfEachId(keys.oneTimePreKeys);
  const oneTimeKemPreKeys = lastOfEachId(keys.oneTimeKemPreKeys);
  if (oneTimePreKeys.length > keys.maxPreKeysStored) {
    throw new StoreError('limit-exceeded', 'too many one-time prekeys stored for this device');
  }
  if (oneTimeKemPreKeys.length > keys.maxKemPreKeysStored) {
    throw new StoreError('limit-exceeded', 'too many one-time KEM prekeys stored for this device');
  }
  return {
    signedPreKey: keys.signedPreKey,
    oneTimePreKeys,
    oneTimeKemPreKeys,
    lastResortKemPreKey: keys.lastResortKemPreKey,
  };
}
