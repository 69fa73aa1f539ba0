/**
 * `SharedRateLimiter` on PostgreSQL (table in rate-buckets-schema.ts): the
 * buckets of the limits that must hold across a cluster — one-time prekeys
 * handed out per target account, registrations per address — where a
 * client could otherwise multiply its budget by the number of nodes.
 *
 * A take is one statement: the row is locked by the upsert, refilled by the
 * time since its last take, and charged only if it has the tokens, so
 * concurrent takes through any nodes never spend more than the bucket
 * holds. Nodes' clocks may differ a little: elapsed time never counts
 * below zero and `updated_at` never moves back.
 */
import type pg from 'pg';
import type { Clock } from '../../../crypto/provider.js';
import type { RateDecision, SharedRateLimiter } from '../../rate-limit.js';
import { mapPgError } from './errors.js';
import type { Row } from './rows.js';

/** Rows deleted per prune statement (the prune repeats until none is left). */
const PRUNE_BATCH = 1000;

/** Token buckets of one limiter (`scope`) in the cluster's database. */
export class PostgresRateLimiter implements SharedRateLimiter {
  constructor(
    private readonly pool: pg.Pool,
    private readonly scope: string,
    private readonly clock: Clock,
    private readonly capacity: number,
    private readonly refillPerSecond: number,
  ) {}

  async take(key: string, cost = 1): Promise<RateDecision> {
    const now = this.clock.now();
    const perMs = this.refillPerSecond / 1000;
    try {
      const result = await this.pool.query<Row>(
        `INSERT INTO rate_buckets AS b (scope, key, tokens, updated_at, full_at)
           SELECT $1::text, $2::text, $3::float8 - $4::float8, $5::bigint,
                  $5::bigint + ceil($4::float8 / $6::float8)::bigint
           WHERE $4::float8 <= $3::float8
         ON CONFLICT (scope, key) DO UPDATE SET
           tokens = least($3::float8, b.tokens + greatest(0, $5::bigint - b.updated_at) * $6::float8)
                    - $4::float8,
           updated_at = greatest(b.updated_at, $5::bigint),
           full_at = greatest(b.updated_at, $5::bigint) + ceil(($3::float8 - (least($3::float8,
                    b.tokens + greatest(0, $5::bigint - b.updated_at) * $6::float8) - $4::float8))
                    / $6::float8)::bigint
           WHERE least($3::float8, b.tokens + greatest(0, $5::bigint - b.updated_at) * $6::float8)
                 >= $4::float8
         RETURNING b.tokens`,
        [this.scope, key, this.capacity, cost, now, perMs],
      );
      if ((result.rowCount ?? 0) > 0) return { allowed: true };
      // Refused: how long until the bucket holds `cost` (read after the fact;
      // an estimate is all a client's retry hint needs).
      const state = await this.pool.query<Row>(
        `SELECT least($3::float8, tokens + greatest(0, $4::bigint - updated_at) * $5::float8) AS t
         FROM rate_buckets WHERE scope = $1 AND key = $2`,
        [this.scope, key, this.capacity, now, perMs],
      );
      const tokens = Number(state.rows[0]?.['t'] ?? 0);
      const missing = Math.max(0, cost - tokens);
      return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(missing / perMs)) };
    } catch (error) {
      throw mapPgError(error);
    }
  }

  async prune(): Promise<void> {
    const now = this.clock.now();
    try {
      for (;;) {
        const result = await this.pool.query(
          `DELETE FROM rate_buckets WHERE (scope, key) IN
             (SELECT scope, key FROM rate_buckets
              WHERE scope = $1 AND full_at <= $2 LIMIT $3)`,
          [this.scope, now, PRUNE_BATCH],
        );
        if ((result.rowCount ?? 0) < PRUNE_BATCH) return;
      }
    } catch (error) {
      throw mapPgError(error);
    }
  }
}
