/**
 * What `startServer` (server.ts) is given and gives back, and how it opens
 * its store: SQLite in a data directory by default, PostgreSQL in cluster
 * mode, memory for tests.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock, CryptoProvider, RandomSource } from '../crypto/provider.js';
import type { ServerLimits } from './config.js';
import type { LogLevel } from './logger.js';
import type { ServerMetrics } from './metrics.js';
import { createMemoryStore } from './store/memory.js';
import { openPostgresStore } from './store/postgres/index.js';
import { openSqliteStore } from './store/sqlite/index.js';
import type { ServerStore } from './store/types.js';
import type { TurnScheduler } from './turn-end.js';

/** Options of `startServer`. Everything has a default. */
export interface StartServerOptions {
  /** Interface to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Port; 0 picks a free one (tests). Default 8080. */
  readonly port?: number;
  /** Data directory for the SQLite database (created if missing). Default ./data. */
  readonly dataDir?: string;
  /** Use this store instead of opening one (tests: the in-memory store). */
  readonly store?: ServerStore;
  /** Keep everything in memory (nothing survives a restart); ignores `dataDir`. */
  readonly memory?: boolean;
  /** 'full' fsyncs every commit (power-loss durable); default 'normal'. */
  readonly synchronous?: 'normal' | 'full';
  /** Require this token to register. */
  readonly registrationToken?: string;
  readonly limits?: Partial<ServerLimits>;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly crypto?: CryptoProvider;
  readonly logger?: Logger;
  readonly logLevel?: LogLevel;
  /** Serve this directory's files over HTTP at `/` (the web app). */
  readonly staticDir?: string;
  /** How often undelivered envelopes are checked for expiry; default hourly. */
  readonly expirySweepMs?: number;
  /** Ping interval; a connection that misses a whole interval is dropped. Default 30 s. */
  readonly heartbeatMs?: number;
  /**
   * Accept `register` for an existing account name (a reinstalled primary
   * with a new account key): device 1 is replaced, every companion is
   * logged out (`account-reset`) and queues are cleared. Anyone who can
   * register can then take over any name, so this is an operator's choice
   * (like SMS re-verification); default off.
   */
  readonly allowReregistration?: boolean;
  /** How often a released storage reserve is retried, ms (default 1000; tests shorten it). */
  readonly storageReserveRetryMs?: number;
  // Cluster mode (docs/operations.md, "Running a cluster").
  /** A postgres:// URL: use PostgreSQL instead of SQLite (several nodes may share it). */
  readonly database?: string;
  /** PostgreSQL schema (tests use one per run); default the store's. */
  readonly databaseSchema?: string;
  /** A nats:// URL: the bus between nodes. Without it the node is alone. */
  readonly bus?: string;
  /** This node's id in the cluster; default `hostname:port`. */
  readonly nodeId?: string;
  /** First token of every bus subject (default `quintet`; tests use a random one per run). */
  readonly busSubjectPrefix?: string;
  /** Period of the degraded-mode queue sweep while the bus is down, ms (default 2000). */
  readonly degradedSweepMs?: number;
}

/** What the server uses of a store beyond `ServerStore`, when the store has it. */
export type OpenedStore = ServerStore & {
  commitCount?: () => number;
  /** PostgreSQL: database reachability for /healthz. */
  health?: () => Promise<{ ok: boolean; error?: string }>;
  /** PostgreSQL: run `body` on one node at a time (undefined when another holds it). */
  withLock?: <T>(name: string, body: () => Promise<T>) => Promise<T | undefined>;
};

/** A started server. */
export interface RunningServer {
  /** `http://host:port` */
  readonly url: string;
  /** `ws://host:port/v1/websocket` */
  readonly wsUrl: string;
  readonly port: number;
  /** This node's id (`nodeId` option, or `hostname:port`). */
  readonly nodeId: string;
  readonly metrics: ServerMetrics;
  /**
   * The server's store (with its caches). Change accounts through this
   * object, not the backend underneath, or the device-list cache goes stale.
   */
  readonly store: ServerStore;
  /** Deletes expired envelopes now (also runs periodically); returns how many. */
  sweepExpired(): Promise<number>;
  /** Deletes expired blobs now (also runs periodically); returns how many. */
  sweepBlobs(): Promise<number>;
  /** Removes companions past their lifetime now (also runs periodically); returns how many. */
  sweepInactiveDevices(): Promise<number>;
  /** Stops accepting, closes every connection, flushes pending writes, closes the store. */
  close(): Promise<void>;
}

/** The SQLite file inside a data directory. */
export function databasePath(dataDir: string): string {
  return join(dataDir, 'quintet.db');
}

export async function openStore(
  options: StartServerOptions,
  random: RandomSource,
  limits: ServerLimits,
  logger: Logger,
  turns: TurnScheduler,
): Promise<OpenedStore> {
  if (options.store !== undefined) return options.store;
  if (options.database !== undefined) {
    return openPostgresStore({
      url: options.database,
      ...(options.databaseSchema === undefined ? {} : { schema: options.databaseSchema }),
      random,
      // Commit before the turn's socket writes are flushed (see turn-end.ts).
      scheduleCommit: (flush) => turns.atTurnEnd('commit', flush),
      onError: (error) => logger.error({ err: error }, 'database error'),
    });
  }
  if (options.memory === true) return createMemoryStore(random);
  const dataDir = options.dataDir ?? 'data';
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return openSqliteStore({
    path: databasePath(dataDir),
    // Commit before the turn's socket writes are flushed (see turn-end.ts).
    scheduleCommit: (flush) => turns.atTurnEnd('commit', flush),
    random,
    ...(options.synchronous === undefined ? {} : { synchronous: options.synchronous }),
    reserveBytes: limits.storageReserveBytes,
    ...(options.storageReserveRetryMs === undefined
      ? {}
      : { reserveRetryMs: options.storageReserveRetryMs }),
    onStorageChange: (low, reason) =>
      low ? logger.error({ storageLow: true }, reason) : logger.warn({ storageLow: false }, reason),
  });
}
