/**
 * Per-device queue sizes (envelopes and content bytes), kept in memory so a
 * send checks its recipients' queue bounds in O(1) instead of counting rows.
 *
 * A device's size is loaded from the backend the first time it is needed and
 * then kept up to date by the backend's own writes; entries of emptied
 * queues are dropped once more than `EMPTIED_KEPT` others emptied after
 * them, so memory follows the number of non-empty queues touched since
 * start, plus that bound. Whenever the backend cannot tell exactly what changed
 * (an expiry sweep, a failed commit) it calls `clear` and sizes are loaded
 * again on next use.
 */
import { StoreError, type NewEnvelope, type QueueBounds } from './types.js';

/** One device's queue size. */
export interface QueueSize {
  count: number;
  /** Content bytes; an upper bound while `bytesExact` is false. */
  bytes: number;
  /**
   * False after removals whose sizes the backend did not read (an ack's
   * delete reads nothing back, which halves its cost): `bytes` then only
   * overstates, and is read again from the backend before it refuses a send.
   */
  bytesExact?: boolean;
}

/** Loads a device's size from the backend (0/0 for an empty queue). */
export type QueueSizeLoader = (account: string, deviceId: number) => QueueSize;

/** How many emptied queues keep an exact zero entry (see `QueueSizes.settleEmpty`). */
const EMPTIED_KEPT = 4096;

/** The sizes of every device queue touched since start (or the last `clear`). */
export class QueueSizes {
  /** account → device id → size: no key string built per envelope. */
  private readonly sizes = new Map<string, Map<number, QueueSize>>();
  /**
   * The last `EMPTIED_KEPT` queues that went empty, oldest overwritten
   * first. Their entries stay as exact zeros: a device that gets one
   * message at a time and acks it empties its queue with every message,
   * and dropping the entry then cost the next send a count query of the
   * backend (one per message at one in flight). Past the bound the oldest
   * go, so memory still follows the non-empty queues.
   */
  private readonly emptiedAccount: string[] = [];
  private readonly emptiedDevice: number[] = [];
  private readonly emptiedSize: QueueSize[] = [];
  private emptiedAt = 0;

  constructor(private readonly load: QueueSizeLoader) {}

  /** The device's size (loaded on first use); the object is live, do not keep it. */
  get(account: string, deviceId: number): QueueSize {
    let devices = this.sizes.get(account);
    if (devices === undefined) {
      devices = new Map();
      this.sizes.set(account, devices);
    }
    let size = devices.get(deviceId);
    if (size === undefined) {
      size = this.load(account, deviceId);
      devices.set(deviceId, size);
    }
    return size;
  }

  /**
   * Counts `envelopes` in, or — when `bounds` is given and any device's queue
   * would pass a bound — counts nothing and throws `StoreError('queue-full')`.
   * Allocates nothing: sizes are raised in place and lowered again on refusal.
   */
  add(envelopes: readonly NewEnvelope[], bounds: QueueBounds | undefined): void {
    for (let i = 0; i < envelopes.length; i += 1) {
      const e = envelopes[i];
      if (e === undefined) continue;
      const size = this.get(e.destination, e.destinationDevice);
      size.count += 1;
      size.bytes += e.content.length;
      if (bounds === undefined) continue;
      if (size.bytes > bounds.maxBytes && size.bytesExact === false) {
        this.reload(e.destination, e.destinationDevice, envelopes, i, size);
      }
      const limit =
        size.count > bounds.maxCount
          ? 'queue-count'
          : size.bytes > bounds.maxBytes
            ? 'queue-bytes'
            : undefined;
      if (limit !== undefined) {
        this.undo(envelopes, i);
        throw new StoreError(
          'queue-full',
          limit === 'queue-count'
            ? `a recipient device's queue holds its maximum of ${bounds.maxCount} envelopes`
            : `a recipient device's queue holds its maximum of ${bounds.maxBytes} bytes`,
          { limit },
        );
      }
    }
  }

  /**
   * Replaces an overstated size with the backend's exact one, plus what
   * `envelopes[0..last]` already added for that device in this call (not
   * yet written). Only at the byte bound, so acks stay cheap.
   */
  private reload(
    account: string,
    deviceId: number,
    envelopes: readonly NewEnvelope[],
    last: number,
    size: QueueSize,
  ): void {
    const stored = this.load(account, deviceId);
    let count = stored.count;
    let bytes = stored.bytes;
    for (let j = 0; j <= last; j += 1) {
      const e = envelopes[j];
      if (e !== undefined && e.destination === account && e.destinationDevice === deviceId) {
        count += 1;
        bytes += e.content.length;
      }
    }
    size.count = count;
    size.bytes = bytes;
    size.bytesExact = true;
  }

  /**
   * Counts `count` envelopes out of a device's queue without their sizes:
   * its byte total becomes an upper bound until it is read again.
   */
  removeCount(account: string, deviceId: number, count: number): void {
    const size = this.sizes.get(account)?.get(deviceId);
    if (size === undefined) return;
    size.count -= count;
    size.bytesExact = false;
    this.settleEmpty(account, deviceId, size);
  }

  /** Takes back `add` of `envelopes[0..last]` (after a failed insert). */
  undo(envelopes: readonly NewEnvelope[], last = envelopes.length - 1): void {
    for (let j = 0; j <= last; j += 1) {
      const e = envelopes[j];
      if (e !== undefined) this.remove(e.destination, e.destinationDevice, 1, e.content.length);
    }
  }

  /** Counts `count` envelopes of `bytes` in total out of a device's queue. */
  remove(account: string, deviceId: number, count: number, bytes: number): void {
    const devices = this.sizes.get(account);
    const size = devices?.get(deviceId);
    if (devices === undefined || size === undefined) return;
    size.count -= count;
    size.bytes -= bytes;
    this.settleEmpty(account, deviceId, size);
  }

  /**
   * An emptied queue's entry becomes an exact zero (no envelope, so no
   * byte) and joins the kept ones; a count below zero means the entry no
   * longer matches the backend, so it goes and is loaded again.
   */
  private settleEmpty(account: string, deviceId: number, size: QueueSize): void {
    if (size.count > 0) return;
    if (size.count < 0) {
      this.forget(account, deviceId);
      return;
    }
    size.bytes = 0;
    size.bytesExact = true;
    const at = this.emptiedAt;
    const oldAccount = this.emptiedAccount[at];
    const oldDevice = this.emptiedDevice[at];
    const oldSize = this.emptiedSize[at];
    // The entry it replaces goes unless its queue filled again since (or it
    // was replaced, forgotten or cleared: then it is not the map's object).
    if (oldAccount !== undefined && oldDevice !== undefined && oldSize !== undefined) {
      if (oldSize.count === 0 && this.sizes.get(oldAccount)?.get(oldDevice) === oldSize) {
        this.forget(oldAccount, oldDevice);
      }
    }
    this.emptiedAccount[at] = account;
    this.emptiedDevice[at] = deviceId;
    this.emptiedSize[at] = size;
    this.emptiedAt = (at + 1) % EMPTIED_KEPT;
  }

  /** Drops a device's entry (its queue was deleted, or it is empty). */
  forget(account: string, deviceId: number): void {
    const devices = this.sizes.get(account);
    if (devices === undefined) return;
    devices.delete(deviceId);
    if (devices.size === 0) this.sizes.delete(account);
  }

  /** Drops every entry: sizes are loaded again on next use. */
  clear(): void {
    this.sizes.clear();
  }
}
