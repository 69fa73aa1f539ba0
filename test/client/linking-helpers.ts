/**
 * Fixtures for the linking tests: the REAL server in-process (memory store,
 * a clock the test moves), real WebSocket transports, and in-memory device
 * stores for a primary and its companions.
 */
import { nodeCrypto } from '../../src/crypto/node.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { decodeLinkCode, type LinkCode } from '../../src/protocol/adv/index.js';
import { authenticateDevice, registerAccount } from '../../src/client/core/account-setup.js';
import { approveCompanion } from '../../src/client/core/linking/approve.js';
import {
  linkCompanion,
  storeLinkedDevice,
  type LinkedDevice,
} from '../../src/client/core/linking/companion.js';
import { ServerApi } from '../../src/client/core/server-api.js';
import { createDeviceStore, type DeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { startTestServer, type TestServer } from '../server/helpers/server.js';

/** Real crypto; the clock is the server's manual clock so reference expiry lines up. */
export function contextFor(server: TestServer): ProtocolContext {
  return {
    crypto: nodeCrypto,
    random: (n) => nodeCrypto.randomBytes(n),
    clock: server.clock,
  };
}

export { startTestServer, type TestServer };

/** A registered primary with its store. */
export interface Primary {
  readonly store: DeviceStore;
  readonly account: string;
}

/** Registers `account` as a primary on `server`. */
export async function registerPrimary(server: TestServer, account: string): Promise<Primary> {
  const store = createDeviceStore(new MemoryBackend());
  const transport = await WsTransport.connect(server.server.url);
  try {
    await registerAccount(contextFor(server), store, new ServerApi(transport), {
      account,
      serverUrl: server.server.url,
      deviceName: 'primary',
    });
  } finally {
    await transport.close();
  }
  return { store, account };
}

/** Runs `fn` with an authenticated API for the device in `store`. */
export async function withDevice<T>(
  server: TestServer,
  store: DeviceStore,
  fn: (api: ServerApi) => Promise<T>,
): Promise<T> {
  const transport = await WsTransport.connect(server.server.url);
  try {
    const api = new ServerApi(transport);
    await authenticateDevice(contextFor(server), store, api);
    return await fn(api);
  } finally {
    await transport.close();
  }
}

/** A companion waiting to be linked: its first link code and the pending outcome. */
export interface PendingCompanion {
  /** The first link code shown. */
  readonly code: Promise<LinkCode>;
  /** Every code text shown so far. */
  readonly shown: string[];
  /** Settles with the linked device or the linking error. */
  readonly result: Promise<LinkedDevice>;
  close(): Promise<void>;
}

/** Starts `linkCompanion` on a fresh anonymous connection. */
export async function startCompanion(
  server: TestServer,
  options: { timeoutMs?: number; name?: string } = {},
): Promise<PendingCompanion> {
  const transport = await WsTransport.connect(server.server.url);
  const shown: string[] = [];
  let first: (code: LinkCode) => void = () => undefined;
  const code = new Promise<LinkCode>((resolve) => {
    first = resolve;
  });
  const result = linkCompanion(contextFor(server), transport, {
    serverUrl: server.server.url,
    deviceName: options.name ?? 'companion',
    platform: 'cli',
    timeoutMs: options.timeoutMs ?? 10_000,
    // Real waiting, but short: the server clock only moves when a test says so.
    schedule: (ms, callback) => {
      const timer = setTimeout(callback, Math.min(ms, 50));
      return () => clearTimeout(timer);
    },
    onCode: (offer) => {
      shown.push(offer.text);
      if (shown.length === 1) first(decodeLinkCode(offer.text));
    },
  });
  // Keep an early rejection from being reported as unhandled.
  result.catch(() => undefined);
  return { code, shown, result, close: () => transport.close() };
}

/** Links one companion to `primary` end to end; returns its stored profile. */
export async function linkOne(
  server: TestServer,
  primary: Primary,
  name = 'companion',
): Promise<{ store: DeviceStore; linked: LinkedDevice }> {
  const companion = await startCompanion(server, { name });
  try {
    const code = await companion.code;
    await withDevice(server, primary.store, (api) =>
      approveCompanion(contextFor(server), primary.store, api, code),
    );
    const linked = await companion.result;
    const store = createDeviceStore(new MemoryBackend());
    await storeLinkedDevice(store, linked);
    return { store, linked };
  } finally {
    await companion.close();
  }
}
