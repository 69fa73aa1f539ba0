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
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/** How long a deferred operation may wait for a batch to join, in ms. */
export const DEFAULT_DEFER_MS = 20;

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

  /**
   * @param schedule runs the flush at the end of the current event-loop turn
   *   (default `setImmediate`; the server orders it before its socket writes).
   */
  constructor(
    private readonly db: Database,
    private readonly deferMs = DEFAULT_DEFER_MS,
    private readonly schedule: (flush: () => void) => void = setImmediate,
  ) {
    this.runBatch = db.transaction((batch: readonly PendingOp[]) => {
      for (const op of batch) {
        try {
          // A nested better-sqlite3 transaction is a SAVEPOINT.
          op.result = op.savepoint ? this.db.transaction(op.run)() : op.run();
        } catch (error) {
          op.failed = true;
          op.result = error;
        }
      }
    });
  }

  /**
   * Queues `op` for the current batch; resolves with its result after the
   * batch commits. Pass `savepoint: false` only for an op whose failure
   * cannot leave partial writes (a single statement).
   */
  submit<T>(op: () => T, options: { savepoint?: boolean } = {}): Promise<T> {
    return this.enqueue(op, options.savepoint ?? true, false);
  }

  /**
   * Like `submit`, but never commits sooner than the next ordinary batch or
   * `deferMs` from now, whichever comes first. For writes whose caller does
   * not wait on them to answer anyone (see `SqliteQueueStore.ack`).
   */
  submitDeferred<T>(op: () => T, options: { savepoint?: boolean } = {}): Promise<T> {
    return this.enqueue(op, options.savepoint ?? true, true);
  }

  /** Commits now if deferred writes are waiting, so a read sees them. */
  flushDeferred(): void {
    if (this.hasDeferred) this.flush();
  }

  private enqueue<T>(op: () => T, savepoint: boolean, deferred: boolean): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('closed', 'store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        run: op,
        failed: false,
        result: undefined,
        savepoint,
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
    try {
      this.runBatch(batch);
      this.commits += 1;
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing is durable.
      for (const op of batch) op.reject(error);
      return;
    }
    for (const op of batch) {
      if (op.failed) op.reject(op.result);
      else op.resolve(op.result);
    }
  }

  /** Flushes and refuses further writes. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
