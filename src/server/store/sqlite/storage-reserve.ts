/**
 * A reserve of disk space next to the database, so a full disk never stops
 * the writes that free space.
 *
 * Even a delete needs room: SQLite appends the changed pages to the WAL
 * before it can commit. So the store keeps a file of `bytes` zeros beside
 * the database. When a write fails for space the file is deleted, and until
 * it can be written again only deletes (acks, expiry, device removal) are
 * let through — new messages would otherwise eat the freed room. Every
 * `retryMs` the reserve is written again once the disk has room for it
 * twice over (so restoring it does not fill the disk at once); then writes
 * are accepted again, with no restart.
 */
import { statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SpaceGuard } from './group-commit.js';

/** Options of `StorageReserve`. */
export interface StorageReserveOptions {
  /** The reserve file (conventionally the database path plus `.reserve`). */
  readonly path: string;
  /** Its size; 0 keeps no reserve (writes then just fail while the disk is full). */
  readonly bytes: number;
  /** How often to try to restore a released reserve, ms (default 1000). */
  readonly retryMs?: number;
  /** Hears changes of state, for the log. */
  readonly onChange?: (low: boolean, reason: string) => void;
}

/** The reserve file and the low-space state it drives. */
export class StorageReserve implements SpaceGuard {
  private isLow = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: StorageReserveOptions) {}

  /** True while the reserve is released (the disk filled and has not recovered). */
  get low(): boolean {
    return this.isLow;
  }

  /** Writes the reserve at start; without room for it the store starts low. */
  open(): void {
    if (this.options.bytes <= 0) return;
    if (!this.write()) this.enterLow('no room for the storage reserve at start');
  }

  /** A write failed for space: release the reserve and refuse new data. */
  full(): void {
    if (this.options.bytes <= 0) return;
    if (this.isLow) return;
    this.release();
    this.enterLow('disk full: storage reserve released, refusing new messages');
  }

  /** Tries to leave the low state now; true when the reserve is back. */
  tryRestore(): boolean {
    if (!this.isLow) return true;
    if (this.freeBytes() < 2 * this.options.bytes || !this.write()) return false;
    this.isLow = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.options.onChange?.(false, 'space returned: storage reserve restored');
    return true;
  }

  /** Passes a problem on to the log. */
  warn(reason: string): void {
    this.options.onChange?.(this.isLow, reason);
  }

  /** Stops retrying (the reserve file stays for the next start). */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private enterLow(reason: string): void {
    this.isLow = true;
    this.options.onChange?.(true, reason);
    this.timer ??= setInterval(() => {
      try {
        this.tryRestore();
      } catch (error) {
        // Not a full disk (permissions, a vanished directory): keep trying, but say so.
        this.options.onChange?.(true, `storage reserve not restored: ${String(error)}`);
      }
    }, this.options.retryMs ?? 1000);
    this.timer.unref();
  }

  private freeBytes(): number {
    const stats = statfsSync(dirname(this.options.path));
    return stats.bavail * stats.bsize;
  }

  /** Writes the reserve file in full; false (and no partial file) when the disk is full. */
  private write(): boolean {
    try {
      writeFileSync(this.options.path, Buffer.alloc(this.options.bytes));
      return true;
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      this.release();
      return false;
    }
  }

  private release(): void {
    try {
      unlinkSync(this.options.path);
    } catch (error) {
      // Already gone is what we want; anything else is a real fault.
      if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
    }
  }
}

function isNoSpace(error: unknown): boolean {
  return (
    error instanceof Error &&
    'code' in error &&
    (error.code === 'ENOSPC' || error.code === 'EDQUOT')
  );
}
