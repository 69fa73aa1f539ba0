/**
 * Where a cluster-wide limit keeps its buckets: PostgreSQL when the store
 * is PostgreSQL (a cluster: the same client may reach every node), else
 * this process's memory (a single node).
 *
 * Only the limits keyed by something a client can spread over nodes need
 * this: a target account, a remote address. Limits keyed by the requesting
 * device stay in memory, since a device has one connection in the cluster
 * at a time (a newer one closes the older one on whichever node holds it).
 */
import pg from 'pg';
import type { Clock } from '../crypto/provider.js';
import { localRateLimiter, TokenBucketLimiter, type SharedRateLimiter } from './rate-limit.js';
import { PostgresRateLimiter } from './store/postgres/rate-buckets.js';

/** A limiter named `scope` beside `backend` (a PostgreSQL store exposes its `pool`). */
export function sharedRateLimiterFor(
  backend: object,
  scope: string,
  clock: Clock,
  capacity: number,
  refillPerSecond: number,
): SharedRateLimiter {
  const pool: unknown = Reflect.get(backend, 'pool');
  if (pool instanceof pg.Pool) {
    return new PostgresRateLimiter(pool, scope, clock, capacity, refillPerSecond);
  }
  return localRateLimiter(new TokenBucketLimiter(clock, capacity, refillPerSecond));
}
