/**
 * Group commit: every write submitted during one event-loop turn is applied
 * in ONE SQLite transaction, and only then are the callers' promises
 * resolved. One commit (one WAL append, one fsync under synchronous=FULL)
 * then covers hundreds of messages instead of one each — the difference
 * between ~20k and ~200k queue operations per second on this hardware.
 *
 * Each operation runs inside its own savepoint, so one failing operation
 * (say, a registration of a taken name) rolls back only itself and rejects
 * only its own caller; the rest of the batch still commits.
 *
 * Deferred operations (acks' deletes) do not start a commit of their own:
 * they ride along with the next batch, or are committed after
 * `deferMs` when nothing else comes. That takes a whole commit (its WAL
 * pages) off every delivered message when load is light.
 *
 * A full disk (SQLITE_FULL) fails the writes with `StoreError('storage-full')`
 * and tells the `SpaceGuard`, which frees its reserve; while it reports low
 * space only writes that free space (acks, expiry, device removal) run, and
 * those of a batch that failed for space are retried at once on their own.
 */
import type { Database } from 'better-sqlite3';
import { StoreError } from '../types.js';

interface PendingOp {
  readonly run: () => unknown;
  /**
   * Set inside the transaction, settled only after it commits. Kept on the
   * op itself rather than in a parallel array of outcome objects: that was
   * two allocations per message on the hot path.
   */
  failed: boolean;
  result: unknown;
  /** False for a single statement, which is atomic by itself (saves a SAVEPOINT). */
  readonly savepoint: boolean;
  /** A delete: allowed, and retried alone, when the disk is full. */
  readonly freesSpace: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/** How long a deferred operation may wait for a batch to join, in ms. */
export const DEFAULT_DEFER_MS = 20;

/** Options of one submitted write. */
export interface WriteOptions {
  /** Run inside its own savepoint (default true); false only for one statement. */
  readonly savepoint?: boolean;
  /** The write only deletes: it may run (and frees space) while space is low. */
  readonly freesSpace?: boolean;
}

/** What the committer tells about, and asks of, the disk's free space. */
export interface SpaceGuard {
  /** True while space is low: writes that do not free space are refused. */
  readonly low: boolean;
  /** A write failed for space. */
  full(): void;
  /** Hears a problem worth logging (a checkpoint that failed while space is low). */
  warn(reason: string): void;
}

/** Whether `error` is SQLite's "database or disk is full". */
export function isDiskFull(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'SQLITE_FULL';
}

function storageFull(cause: unknown): StoreError {
  return new StoreError('storage-full', 'the server has no storage space left', { cause });
}

/** Batches synchronous write operations into one transaction per event-loop turn. */
export class GroupCommitter {
  private pending: PendingOp[] = [];
  private scheduled = false;
  private deferTimer: NodeJS.Timeout | undefined;
  /** Whether `pending` holds a deferred operation. */
  private hasDeferred = false;
  private closed = false;
  /** Transactions committed so far (for metrics and tests). */
  commits = 0;
  /** Built once: better-sqlite3 wraps a function per `transaction()` call. */
  private readonly runBatch: (batch: readonly PendingOp[]) => void;
  private readonly rollbackListeners: Array<() => void> = [];
  /** Set while a batch runs when one of its operations failed for space. */
  private sawFull = false;

  /**
   * @param schedule runs the flush at the end of the current event-loop turn
   *   (default `setImmediate`; the server orders it before its socket writes).
   */
  constructor(
    private readonly db: Database,
    private readonly deferMs = DEFAULT_DEFER_MS,
    private readonly schedule: (flush: () => void) => void = setImmediate,
    private readonly space?: SpaceGuard,
  ) {
    this.runBatch = db.transaction((batch: readonly PendingOp[]) => {
      for (const op of batch) {
        try {
          // A nested better-sqlite3 transaction is a SAVEPOINT.
          op.result = op.savepoint ? this.db.transaction(op.run)() : op.run();
        } catch (error) {
          op.failed = true;
          op.result = error;
          if (isDiskFull(error)) {
            this.sawFull = true;
            op.result = storageFull(error);
          }
          // SQLite may roll the whole transaction back on some errors (a
          // full disk among them): then nothing before this op stands
          // either, and nothing after it may run outside a transaction.
          if (!this.db.inTransaction) throw error;
        }
      }
    });
  }

  /** Calls `listener` after a batch failed to commit (in-memory counts must be reloaded). */
  onRollback(listener: () => void): void {
    this.rollbackListeners.push(listener);
  }

  /**
   * Queues `op` for the current batch; resolves with its result after the
   * batch commits. Pass `savepoint: false` only for an op whose failure
   * cannot leave partial writes (a single statement).
   */
  submit<T>(op: () => T, options: WriteOptions = {}): Promise<T> {
    return this.enqueue(op, options, false);
  }

  /**
   * Like `submit`, but never commits sooner than the next ordinary batch or
   * `deferMs` from now, whichever comes first. For writes whose caller does
   * not wait on them to answer anyone (see `SqliteQueueStore.ack`).
   */
  submitDeferred<T>(op: () => T, options: WriteOptions = {}): Promise<T> {
    return this.enqueue(op, options, true);
  }

  /** Commits now if deferred writes are waiting, so a read sees them. */
  flushDeferred(): void {
    if (this.hasDeferred) this.flush();
  }

  private enqueue<T>(op: () => T, options: WriteOptions, deferred: boolean): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('closed', 'store is closed'));
    const freesSpace = options.freesSpace === true;
    // While space is low, refuse new data before it can take the reserve
    // that acks need.
    if (this.space?.low === true && !freesSpace) return Promise.reject(storageFull(undefined));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        run: op,
        failed: false,
        result: undefined,
        savepoint: options.savepoint ?? true,
        freesSpace,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (deferred) {
        this.hasDeferred = true;
        if (this.deferTimer === undefined && !this.scheduled) {
          this.deferTimer = setTimeout(() => this.flush(), this.deferMs);
        }
      } else if (!this.scheduled) {
        this.scheduled = true;
        // The end of the turn comes after its I/O callbacks, so every frame
        // read in the turn lands in the same batch.
        this.schedule(() => this.flush());
      }
    });
  }

  /** Commits everything pending now (also called on close). */
  flush(): void {
    this.scheduled = false;
    this.hasDeferred = false;
    if (this.deferTimer !== undefined) {
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.commitBatch(batch, true);
  }

  /** Runs `batch` in one transaction and settles its operations. */
  private commitBatch(batch: PendingOp[], retry: boolean): void {
    this.sawFull = false;
    try {
      this.runBatch(batch);
      this.commits += 1;
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing is durable.
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const listener of this.rollbackListeners) listener();
      const full = this.sawFull || isDiskFull(error);
      if (full) {
        this.space?.full();
        this.checkpointWhileLow();
      }
      // With the reserve freed, the deletes of the batch may fit: an ack
      // must be able to free space, so they get one more try on their own.
      const again = full && retry ? batch.filter((op) => op.freesSpace) : [];
      for (const op of batch) {
        if (again.includes(op)) {
          op.failed = false;
          op.result = undefined;
        } else {
          op.reject(full ? storageFull(error) : error);
        }
      }
      if (again.length > 0) this.commitBatch(again, false);
      return;
    }
    if (this.sawFull) this.space?.full();
    this.checkpointWhileLow();
    for (const op of batch) {
      if (op.failed) op.reject(op.result);
      else op.resolve(op.result);
    }
  }

  /**
   * While space is low, checkpoints after every commit, on this connection.
   * A delete's pages are checkpointed into space the database file already
   * has, and the WAL then starts over from its beginning, reusing its own
   * space: acks keep committing on a full disk instead of growing the WAL
   * until even the reserve is gone. (The background checkpointer runs only
   * every few hundred ms, and commits in between would each append.)
   */
  private checkpointWhileLow(): void {
    if (this.space?.low !== true) return;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (error) {
      this.space.warn(`checkpoint while space is low failed: ${String(error)}`);
    }
  }

  /** Flushes and refuses further writes. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
