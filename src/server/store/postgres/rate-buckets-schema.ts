/**
 * Token buckets shared by the nodes of a cluster (`PostgresRateLimiter`):
 * one row per (limiter, key) that spent tokens recently. A bucket that has
 * refilled is worth nothing and is pruned. Times are ms since the epoch
 * from the server's injected clock, like the other tables.
 */

/** The migration creating the rate bucket table (idempotent). */
export const RATE_BUCKETS_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS rate_buckets (
  scope text NOT NULL,
  key text NOT NULL,
  tokens double precision NOT NULL,
  updated_at bigint NOT NULL,
  -- When the bucket is full again: the prune deletes rows past it.
  full_at bigint NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS rate_buckets_full ON rate_buckets (full_at);
`;
