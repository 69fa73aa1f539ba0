/**
 * The browser profile: one IndexedDB database holding this device's store,
 * every value sealed with the profile's non-extractable at-rest key (the
 * SDK's `openBrowserStore`).
 */
import {
  browserContext,
  deleteBrowserStore,
  openBrowserStore,
  type DeviceStore,
} from '../../src/sdk/browser.js';
import { removeDownloadedFiles } from './download-files.js';

/** The IndexedDB database of the (single) browser device. */
export const PROFILE_DATABASE = 'quintet-device';

/** WebCrypto, its random source and the system clock (the SDK's browser context). */
export { browserContext };

/** Opens the profile's device store (creating the database and key on first use). */
export async function openProfile(): Promise<DeviceStore> {
  return openBrowserStore(PROFILE_DATABASE);
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
  await deleteBrowserStore(PROFILE_DATABASE);
  // Decrypted attachments the page downloaded (download-files.ts).
  await removeDownloadedFiles();
}
