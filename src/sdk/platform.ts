/**
 * What the SDK needs from the platform it runs on: the crypto context, how
 * to open a connection to a server URL, and the services history sync and
 * attachments use (blob store, compressor). `nodePlatform` and
 * `browserPlatform` are the two there are; tests may build their own.
 */
import type { ProtocolContext } from '../protocol/context.js';
import { ClientError } from '../client/core/errors.js';
import type { HistoryServices } from '../client/core/history/importer.js';
import { platformScheduler, type Scheduler } from '../client/core/scheduler.js';
import { parseServerList } from '../client/core/server-list.js';
import type { Transport } from '../client/core/transport.js';

/** A blob-store bearer token and when it expires (ms since the epoch). */
export interface BlobCredential {
  /** The bearer token. */
  readonly token: string;
  /** When it stops working, ms since the epoch. */
  readonly expiresAt: number;
}

/** A source of blob-store credentials: the device's authenticated connection. */
export type BlobCredentials = () => Promise<BlobCredential>;

/** One platform's pieces. */
export interface Platform {
  /** Crypto provider, random source and clock. */
  readonly ctx: ProtocolContext;
  /**
   * Opens one connection to `server` (an http(s) or ws(s) URL) whose
   * timeouts run on `schedule` (the device's timer, see
   * `OpenOptions.schedule`; the SDK always passes it, and a platform
   * should use it: undefined means the platform timer).
   */
  connect(server: string, schedule?: Scheduler): Promise<Transport>;
  /**
   * History sync and attachment services for a device connected to
   * `server`; their waits run on `schedule` (as in `connect`).
   */
  services(server: string, credentials: BlobCredentials, schedule?: Scheduler): HistoryServices;
  /**
   * Probe an idle connection this often, ms (0: never). The browser cannot
   * see WebSocket pings, so it probes; Node sees them.
   */
  readonly keepAliveMs: number;
}

/** The server URLs of `servers`: a list, or one comma-separated string. */
export function serverList(servers: string | readonly string[]): string[] {
  return parseServerList(servers);
}

/** An open connection, and the URL it went to. */
export interface FirstConnection {
  /** The connection (unauthenticated). */
  readonly transport: Transport;
  /** The server URL that answered. */
  readonly server: string;
}

/**
 * Connects to the first server of `servers` that can be reached, in order;
 * when none can, the last `connect-failed` is thrown. The connections'
 * timeouts run on `schedule` (default: the platform timer).
 */
export async function connectFirst(
  platform: Platform,
  servers: readonly string[],
  schedule: Scheduler = platformScheduler,
): Promise<FirstConnection> {
  let lastError: unknown = new ClientError('invalid-argument', 'no server URL given');
  for (const server of servers) {
    try {
      return { transport: await platform.connect(server, schedule), server };
    } catch (error) {
      if (!ClientError.is(error, 'connect-failed')) throw error;
      lastError = error;
    }
  }
  throw lastError;
}
