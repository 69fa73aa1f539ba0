/**
 * Token buckets per peer device for the retry flow, on the injected clock.
 *
 * Why: anyone who can make envelopes reach this device (any account, or the
 * server) can send undecryptable garbage. Without a limit, each one makes
 * this device answer with a retry request — an amplifier that costs this
 * device a send per envelope and can be used to keep it busy. On the other
 * side, each retry request makes the sender delete its session and build a
 * new one from a fresh bundle (using up the peer's one-time prekeys), so a
 * flood of requests from one device must not reset sessions without bound
 * either. Past the limit the envelope is still acked and recorded as failed
 * (nothing loops); only the follow-up is skipped.
 */
import type { Clock } from '../../crypto/provider.js';

/** A bucket's size and refill rate. */
export interface BucketLimit {
  /** Tokens available at once. */
  readonly burst: number;
  /** ms for one token to come back. */
  readonly refillMs: number;
}

/**
 * Retry requests this device sends per sender device: 5 at once, then one
 * per 30 s. A real session break produces a handful of failures at once.
 */
export const RETRY_REQUEST_LIMIT: BucketLimit = { burst: 5, refillMs: 30_000 };

/**
 * Session resets (answering a retry request) per requesting device: 5 at
 * once, then one per minute. Each also costs a fresh prekey bundle.
 */
export const SESSION_RESET_LIMIT: BucketLimit = { burst: 5, refillMs: 60_000 };

/** Buckets tracked at most; the oldest are forgotten first (they are the fullest). */
const MAX_BUCKETS = 4096;

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets keyed by peer device (`account.device`). */
export class RetryLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock,
    private readonly limit: BucketLimit,
  ) {}

  /** Takes a token for `account`/`deviceId`; false when none is left (skip the follow-up). */
  take(account: string, deviceId: number): boolean {
    const key = `${account}.${deviceId}`;
    const now = this.clock.now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    // A clock that moved backwards refills nothing (never a negative refill).
    const elapsed = Math.max(0, now - bucket.at);
    const refilled = Math.min(this.limit.burst, bucket.tokens + elapsed / this.limit.refillMs);
    const allowed = refilled >= 1;
    this.#buckets.delete(key);
    this.#buckets.set(key, { tokens: allowed ? refilled - 1 : refilled, at: now });
    if (this.#buckets.size > MAX_BUCKETS) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
    return allowed;
  }
}
