/**
 * A token bucket per key (here: per requesting device), on the injected
 * clock. Used for prekey-bundle fetches, which consume one-time prekeys: an
 * unthrottled client could drain every device's prekeys and force everyone
 * onto the weaker signed-prekey-only session setup.
 */
import type { Clock } from '../crypto/provider.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** The outcome of `take`: allowed, or how long until a token is available. */
export type RateDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** Token buckets with a shared capacity and refill rate. */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock,
    private readonly capacity: number,
    private readonly refillPerSecond: number,
  ) {}

  /** Takes `cost` tokens from `key`'s bucket if it has them. */
  take(key: string, cost = 1): RateDecision {
    const now = this.clock.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, updatedAt: now };
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(
      this.capacity,
      bucket.tokens + (elapsed * this.refillPerSecond) / 1000,
    );
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { allowed: true };
    }
    const missing = cost - bucket.tokens;
    return { allowed: false, retryAfterMs: Math.ceil((missing * 1000) / this.refillPerSecond) };
  }

  /** Drops full buckets (they carry no state worth keeping), bounding memory. */
  prune(): void {
    const now = this.clock.now();
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((now - bucket.updatedAt) * this.refillPerSecond) / 1000;
      if (tokens >= this.capacity) this.buckets.delete(key);
    }
  }
}

/**
 * A token-bucket limiter whose buckets may live outside this process: in
 * PostgreSQL for a cluster (store/postgres/rate-buckets.ts), so a client
 * spreading its requests over every node still gets one budget.
 */
export interface SharedRateLimiter {
  /** Takes `cost` tokens from `key`'s bucket if it has them. */
  take(key: string, cost?: number): Promise<RateDecision>;
  /** Drops buckets that are full again (they hold nothing worth keeping). */
  prune(): Promise<void>;
}

/** A `SharedRateLimiter` over this process's buckets (a single node). */
export function localRateLimiter(limiter: TokenBucketLimiter): SharedRateLimiter {
  return {
    take: (key, cost) => Promise.resolve(limiter.take(key, cost)),
    prune: () => {
      limiter.prune();
      return Promise.resolve();
    },
  };
}
