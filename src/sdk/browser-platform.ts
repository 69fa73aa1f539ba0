/**
 * The browser platform: WebCrypto, the browser's WebSocket, a streaming
 * compressor for history archives, and an IndexedDB store sealed with a
 * non-extractable at-rest key. Nothing here imports Node.
 */
import { browserCrypto } from '../crypto/browser.js';
import { systemClock } from '../crypto/provider.js';
import type { ProtocolContext } from '../protocol/context.js';
import { createDeviceStore, type DeviceStore } from '../client/core/store/device-store.js';
import { streamCompressor } from '../client/platform/stream-compressor.js';
import { EncryptedBackend } from '../client/storage/encrypted-backend.js';
import { IndexedDbBackend } from '../client/storage/indexeddb-backend.js';
import { BlobClient, cachedBlobCredential } from '../client/transport/blob-client.js';
import { BrowserWsTransport } from '../client/transport/browser-ws-transport.js';
import type { Platform } from './platform.js';

/** WebCrypto, its random source and the system clock. */
export const browserContext: ProtocolContext = {
  crypto: browserCrypto,
  random: (length) => browserCrypto.randomBytes(length),
  clock: systemClock,
};

/**
 * How often an idle browser connection is probed, ms: the browser hides
 * WebSocket pings, so a connection that died silently (sleep, network
 * change) is noticed within about a minute only by probing.
 */
const BROWSER_KEEP_ALIVE_MS = 30_000;

/** The browser platform (see the module comment). */
export const browserPlatform: Platform = {
  ctx: browserContext,
  connect: (server, schedule) => BrowserWsTransport.connect(server, { schedule }),
  services: (server, credentials, schedule) => ({
    blobs: new BlobClient(server, cachedBlobCredential(credentials), undefined, schedule),
    compressor: streamCompressor,
  }),
  keepAliveMs: BROWSER_KEEP_ALIVE_MS,
};

/**
 * Opens the device store in the IndexedDB database `name` (created with its
 * at-rest key on first use).
 *
 * @example
 * const store = await openBrowserStore('my-app-device');
 */
export async function openBrowserStore(name: string): Promise<DeviceStore> {
  const backend = await IndexedDbBackend.open(name);
  return createDeviceStore(new EncryptedBackend(backend, await backend.wrappingKey()));
}

/** Deletes the IndexedDB database `name` for good (close its store first). */
export async function deleteBrowserStore(name: string): Promise<void> {
  await IndexedDbBackend.delete(name);
}
