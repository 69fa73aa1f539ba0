/**
 * The SQLite backend (better-sqlite3, one file under the data directory).
 *
 * WAL mode with `synchronous=NORMAL`: a committed transaction survives a
 * crash of the process (the WAL is written before the commit returns) but
 * the last commits may be lost on power failure or an OS crash; choose
 * `synchronous: 'full'` to fsync every commit. Group commit (see
 * group-commit.ts) keeps either setting fast.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import type { RandomSource } from '../../../crypto/provider.js';
import { SqliteAccountStore } from './accounts.js';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { GroupCommitter } from './group-commit.js';
import { SqliteGroupStore } from './groups.js';
import { migrate } from './migrations.js';
import { SqliteKemPreKeyStore } from './kem-prekeys.js';
import { SqlitePreKeyStore } from './prekeys.js';
import { SqliteQueueStore } from './queue.js';
import { StorageReserve } from './storage-reserve.js';
import { SqliteSubscriberStore } from './subscribers.js';
import { StoreError, type ServerStore } from '../types.js';

/** Options of `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file path, or ':memory:' for a private throwaway database. */
  readonly path: string;
  /** 'normal' (default): durable against process crashes; 'full': also against power loss. */
  readonly synchronous?: 'normal' | 'full';
  /** Used to stamp applied migrations. */
  readonly now?: number;
  /**
   * Checkpoint the WAL on a worker thread every this many ms (default 250),
   * instead of inside commits on the event loop. 0 keeps SQLite's automatic
   * checkpoints (used for ':memory:').
   */
  readonly checkpointIntervalMs?: number;
  /** Hears background checkpoint failures (they do not lose data, but the WAL grows). */
  readonly onCheckpointError?: (message: string) => void;
  /** Runs a group commit at the end of the event-loop turn (default `setImmediate`). */
  readonly scheduleCommit?: (flush: () => void) => void;
  /** Fills the random half of envelope guids (default: node:crypto). */
  readonly random?: RandomSource;
  /**
   * Bytes kept free in `<path>.reserve` so acks can commit on a full disk
   * (see storage-reserve.ts); default 0, no reserve.
   */
  readonly reserveBytes?: number;
  /** How often a released reserve is retried, ms (default 1000). */
  readonly reserveRetryMs?: number;
  /** Hears the store enter and leave the low-space state. */
  readonly onStorageChange?: (low: boolean, reason: string) => void;
  /** Caps the database at this many pages (SQLite `max_page_count`): a size quota. */
  readonly maxPageCount?: number;
}

/** A SQLite-backed store, plus backend-specific diagnostics. */
export interface SqliteServerStore extends ServerStore {
  /** Transactions committed by the group committer so far. */
  readonly commitCount: () => number;
  /** Changes the page cap (`maxPageCount`) of the running store. */
  readonly setMaxPageCount: (pages: number) => void;
}

/** Opens (creating and migrating as needed) the database at `options.path`. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteServerStore {
  const db = new Database(options.path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, options.now ?? Date.now());
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
  } catch (error) {
    db.close();
    throw error;
  }
  const interval = options.path === ':memory:' ? 0 : (options.checkpointIntervalMs ?? 250);
  let checkpointer: Checkpointer | undefined;
  if (interval > 0) {
    db.pragma('wal_autocheckpoint = 0');
    checkpointer = startCheckpointer(
      options.path,
      interval,
      options.onCheckpointError ?? ((message) => process.emitWarning(`WAL checkpoint: ${message}`)),
    );
  }
  const reserve =
    options.path === ':memory:' || (options.reserveBytes ?? 0) <= 0
      ? undefined
      : new StorageReserve({
          path: `${options.path}.reserve`,
          bytes: options.reserveBytes ?? 0,
          ...(options.reserveRetryMs === undefined ? {} : { retryMs: options.reserveRetryMs }),
          ...(options.onStorageChange === undefined ? {} : { onChange: options.onStorageChange }),
        });
  reserve?.open();
  const committer = new GroupCommitter(db, undefined, options.scheduleCommit, reserve);
  let closed = false;
  const checkOpen = (): void => {
    if (closed) throw new StoreError('closed', 'store is closed');
  };
  const preKeys = new SqlitePreKeyStore(db, committer, checkOpen);
  const kemPreKeys = new SqliteKemPreKeyStore(db, committer, checkOpen);
  return {
    accounts: new SqliteAccountStore(db, committer, checkOpen, (account, deviceId, keys) => {
      preKeys.replaceDeviceInTransaction(account, deviceId, keys);
      kemPreKeys.replaceDeviceInTransaction(account, deviceId, keys);
    }),
    preKeys,
    kemPreKeys,
    queue: new SqliteQueueStore(
      db,
      committer,
      checkOpen,
      options.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
    ),
    subscribers: new SqliteSubscriberStore(db, committer, checkOpen),
    groups: new SqliteGroupStore(db, committer, checkOpen),
    commitCount: () => committer.commits,
    setMaxPageCount: (pages) => {
      db.pragma(`max_page_count = ${Math.floor(pages)}`);
    },
    close: async () => {
      if (closed) return;
      committer.close();
      reserve?.close();
      closed = true;
      await checkpointer?.close();
      // The last connection to close checkpoints and removes the WAL.
      db.close();
    },
  };
}
