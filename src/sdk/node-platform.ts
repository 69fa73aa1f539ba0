/**
 * The Node platform: node:crypto, the `ws` WebSocket transport, node:zlib
 * for history archives, and SQLite profile stores.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { nodeCrypto } from '../crypto/node.js';
import { systemClock } from '../crypto/provider.js';
import type { ProtocolContext } from '../protocol/context.js';
import { createDeviceStore, type DeviceStore } from '../client/core/store/device-store.js';
import { zlibCompressor } from '../client/platform/zlib-compressor.js';
import { SqliteBackend } from '../client/storage/sqlite-backend.js';
import { BlobClient, cachedBlobCredential } from '../client/transport/blob-client.js';
import { WsTransport } from '../client/transport/ws-transport.js';
import type { Platform } from './platform.js';

/** node:crypto, its random source and the system clock. */
export const nodeContext: ProtocolContext = {
  crypto: nodeCrypto,
  random: (length) => nodeCrypto.randomBytes(length),
  clock: systemClock,
};

/** The Node platform (see the module comment). */
export const nodePlatform: Platform = {
  ctx: nodeContext,
  connect: (server, schedule) => WsTransport.connect(server, { schedule }),
  services: (server, credentials, schedule) => ({
    blobs: new BlobClient(server, cachedBlobCredential(credentials), undefined, schedule),
    compressor: zlibCompressor,
  }),
  // The `ws` transport sees the server's pings and drops a dead connection itself.
  keepAliveMs: 0,
};

/** The database file of a profile directory. */
export const PROFILE_DATABASE_FILE = 'device.db';

/** Whether `dir` holds a profile database. */
export function profileExists(dir: string): boolean {
  return existsSync(join(dir, PROFILE_DATABASE_FILE));
}

/**
 * Opens the device store of the profile directory `dir` (one device per
 * directory), creating the directory (private to the user) and an empty
 * database when `create` is set.
 *
 * @example
 * const store = openProfileStore('/var/lib/echo-bot', { create: true });
 */
export function openProfileStore(dir: string, options: { create?: boolean } = {}): DeviceStore {
  if (options.create === true) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return createDeviceStore(new SqliteBackend(join(dir, PROFILE_DATABASE_FILE)));
}
