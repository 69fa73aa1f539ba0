/**
 * The browser profile: one IndexedDB database holding this device's store,
 * every value sealed with the profile's non-extractable at-rest key.
 */
import { browserCrypto } from '../../src/crypto/browser.js';
import { systemClock } from '../../src/crypto/provider.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { createDeviceStore, type DeviceStore } from '../../src/client/core/store/device-store.js';
import { EncryptedBackend } from '../../src/client/storage/encrypted-backend.js';
import { IndexedDbBackend } from '../../src/client/storage/indexeddb-backend.js';
import { removeDownloadedFiles } from './download-files.js';

/** The IndexedDB database of the (single) browser device. */
export const PROFILE_DATABASE = 'quintet-device';

/** WebCrypto, its random source and the system clock. */
export const browserContext: ProtocolContext = {
  crypto: browserCrypto,
  random: (length) => browserCrypto.randomBytes(length),
  clock: systemClock,
};

/** Opens the profile's device store (creating the database and key on first use). */
export async function openProfile(): Promise<DeviceStore> {
  const backend = await IndexedDbBackend.open(PROFILE_DATABASE);
  return createDeviceStore(new EncryptedBackend(backend, await backend.wrappingKey()));
}

/**
 * Deletes this browser's device for good: closes `store`, then deletes the
 * IndexedDB database, which holds the keys, sessions, prekeys, messages,
 * PIN hash and the at-rest key itself, then the downloaded attachment
 * files. Used after a logout: a removed device must keep nothing that could
 * still decrypt or authenticate, nor the plaintext it decrypted.
 */
export async function wipeProfile(store: DeviceStore): Promise<void> {
  await store.close();
  await IndexedDbBackend.delete(PROFILE_DATABASE);
  // Decrypted attachments the page downloaded (download-files.ts).
  await removeDownloadedFiles();
}
