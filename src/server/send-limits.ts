/**
 * Per-account send rate limits: how much one account can make the server
 * store per unit of time, whatever else is bounded.
 *
 * Two token buckets per account (all its devices share them): one counts
 * sends (1:1 and group requests), one counts the bytes a send stores —
 * contents as stored (a group ciphertext once) plus a fixed cost per queued
 * row. Per-device queue bounds protect each recipient; these protect the
 * disk from an account that spreads its sends over many recipients.
 */
import type { Clock } from '../crypto/provider.js';
import type { ServerLimits } from './config.js';
import { ServiceError } from './errors.js';
import { TokenBucketLimiter } from './rate-limit.js';

/**
 * What one queued envelope row costs on disk besides its content: the guid,
 * names, numbers, the index entry and page slack. Measured on SQLite with
 * bench/disk-abuse.ts (~81 bytes a row with short account names); rounded up
 * for longer names.
 */
export const ROW_OVERHEAD_BYTES = 128;

/** The stored size of a send: content bytes as stored, plus the per-row cost. */
export function storedBytes(contentBytes: number, rows: number): number {
  return contentBytes + rows * ROW_OVERHEAD_BYTES;
}

/** The send buckets of every account. */
export class SendLimits {
  private readonly sends: TokenBucketLimiter;
  private readonly bytes: TokenBucketLimiter;
  private readonly bytesBurst: number;

  constructor(clock: Clock, limits: ServerLimits) {
    this.sends = new TokenBucketLimiter(clock, limits.sendRateBurst, limits.sendRatePerSecond);
    this.bytes = new TokenBucketLimiter(clock, limits.sendBytesBurst, limits.sendBytesPerSecond);
    this.bytesBurst = limits.sendBytesBurst;
  }

  /**
   * Charges one send storing `bytes` to `account`, or throws `rate-limited`
   * naming the limit and when to retry. A send bigger than the whole byte
   * bucket costs the whole bucket, so it can still go when the bucket is full.
   */
  charge(account: string, bytes: number): void {
    const send = this.sends.take(account);
    if (!send.allowed) {
      throw new ServiceError('rate-limited', 'too many sends from this account', {
        limit: 'send-per-account',
        retryAfterMs: send.retryAfterMs,
      });
    }
    const stored = this.bytes.take(account, Math.min(bytes, this.bytesBurst));
    if (!stored.allowed) {
      throw new ServiceError('rate-limited', 'this account is sending too many bytes', {
        limit: 'send-bytes-per-account',
        retryAfterMs: stored.retryAfterMs,
      });
    }
  }

  /** Drops full buckets (see `TokenBucketLimiter.prune`). */
  prune(): void {
    this.sends.prune();
    this.bytes.prune();
  }
}
