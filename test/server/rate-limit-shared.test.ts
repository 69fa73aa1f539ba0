/**
 * The shared rate limiters (rate-limit-backend.ts): one suite for the
 * in-memory buckets of a single node and the PostgreSQL buckets of a
 * cluster, plus what only the cluster can show — two nodes drawing on one
 * bucket, concurrently. PostgreSQL cases are skipped (with the reason)
 * without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { localRateLimiter, TokenBucketLimiter } from '../../src/server/rate-limit.js';
import type { SharedRateLimiter } from '../../src/server/rate-limit.js';
import {
  openPostgresStore,
  type PostgresServerStore,
} from '../../src/server/store/postgres/index.js';
import { PostgresRateLimiter } from '../../src/server/store/postgres/rate-buckets.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';

/** A clock the test moves. */
function manualClock(start = 1_700_000_000_000): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

type Open = (
  scope: string,
  clock: { now(): number },
  capacity: number,
  perSecond: number,
) => SharedRateLimiter;

function limiterSuite(open: () => Open): void {
  it('allows a burst of the capacity, then says how long to wait', async () => {
    const clock = manualClock();
    const limiter = open()('s', clock, 3, 2);
    for (let i = 0; i < 3; i++) assert.deepEqual(await limiter.take('k'), { allowed: true });
    const refused = await limiter.take('k');
    assert.equal(refused.allowed, false);
    // 2 tokens a second: one token in 500 ms.
    assert.ok(!refused.allowed && refused.retryAfterMs > 0 && refused.retryAfterMs <= 500);
    // Other keys and other scopes have their own buckets.
    assert.equal((await limiter.take('other')).allowed, true);
    assert.equal((await open()('t', clock, 3, 2).take('k')).allowed, true);
  });

  it('refills with time, never past the capacity', async () => {
    const clock = manualClock();
    const limiter = open()('s', clock, 2, 1);
    assert.equal((await limiter.take('k', 2)).allowed, true);
    assert.equal((await limiter.take('k')).allowed, false);
    clock.advance(1000);
    assert.equal((await limiter.take('k')).allowed, true);
    assert.equal((await limiter.take('k')).allowed, false);
    // A long pause refills to the capacity only.
    clock.advance(3_600_000);
    assert.equal((await limiter.take('k', 2)).allowed, true);
    assert.equal((await limiter.take('k')).allowed, false);
  });

  it('prunes full buckets without forgetting spent ones', async () => {
    const clock = manualClock();
    const limiter = open()('s', clock, 2, 1);
    await limiter.take('spent', 2);
    await limiter.take('refilled', 2);
    clock.advance(1000);
    await limiter.prune();
    // 'spent' holds 1 token after a second: still limited after the prune.
    assert.equal((await limiter.take('spent')).allowed, true);
    assert.equal((await limiter.take('spent')).allowed, false);
  });
}

describe('shared rate limiter, in memory', () => {
  limiterSuite(
    () => (_scope, clock, capacity, perSecond) =>
      localRateLimiter(new TokenBucketLimiter(clock, capacity, perSecond)),
  );
});

const skip = await serviceSkip('postgres');

describe('shared rate limiter, PostgreSQL', { skip }, () => {
  let schema: TestSchema;
  let store: PostgresServerStore;
  before(async () => {
    schema = await createTestSchema('ratebuckets');
    store = await openPostgresStore({ url: schema.url, schema: schema.name });
  });
  after(async () => {
    await store.close();
    await schema.drop();
  });

  // Each case in scopes of its own: the table is shared by the suite.
  let run = 0;
  limiterSuite(() => {
    run += 1;
    return (scope, clock, capacity, perSecond) =>
      new PostgresRateLimiter(store.pool, `${scope}-${run}`, clock, capacity, perSecond);
  });

  it('gives two nodes one bucket, also when they take at once', async () => {
    const other = await openPostgresStore({ url: schema.url, schema: schema.name });
    try {
      const clock = manualClock();
      const a = new PostgresRateLimiter(store.pool, 'nodes', clock, 5, 0.001);
      const b = new PostgresRateLimiter(other.pool, 'nodes', clock, 5, 0.001);
      const takes = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).take('victim'));
      const decisions = await Promise.all(takes);
      assert.equal(decisions.filter((d) => d.allowed).length, 5);
      assert.equal((await b.take('victim')).allowed, false);
    } finally {
      await other.close();
    }
  });

  it('keeps rows only for buckets that are not full', async () => {
    const clock = manualClock();
    const limiter = new PostgresRateLimiter(store.pool, 'rows', clock, 2, 1);
    for (let i = 0; i < 50; i++) await limiter.take(`k${i}`);
    await limiter.take('spent', 2);
    clock.advance(1000);
    await limiter.prune();
    const left = await store.pool.query<{ key: string }>(
      "SELECT key FROM rate_buckets WHERE scope = 'rows'",
    );
    assert.deepEqual(
      left.rows.map((r) => r.key),
      ['spent'],
    );
  });
});
