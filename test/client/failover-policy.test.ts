/**
 * Server failover: round robin over the URL list paced by the jittered
 * backoff (property tests with a fixed seed), and the server list parser
 * that names the URL it refuses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientError } from '../../src/client/core/errors.js';
import { FailoverPolicy } from '../../src/client/core/failover-policy.js';
import { ReconnectPolicy } from '../../src/client/core/reconnect-policy.js';
import { formatServerList, parseServerList } from '../../src/client/core/server-list.js';

/** Reproducible runs: a failure prints the same counterexample every time. */
const RUN = { seed: 0x5eed, numRuns: 200 } as const;

const servers = fc.uniqueArray(
  fc.integer({ min: 1, max: 65_535 }).map((port) => `http://node:${port}`),
  { minLength: 1, maxLength: 6 },
);
/** A random source as a list of draws, including values a broken source might give. */
const draws = fc.array(
  fc.oneof(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.constant(Number.NaN)),
  { minLength: 1, maxLength: 40 },
);
const base = fc.integer({ min: 1, max: 5_000 });
const extra = fc.integer({ min: 0, max: 100_000 });

/** A random source replaying `values` in a loop. */
function replay(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

describe('failover policy', () => {
  it('keeps every delay within [0, min(cap, base * 2^attempt)]', () => {
    fc.assert(
      fc.property(servers, draws, base, extra, (urls, values, baseDelayMs, spread) => {
        const maxDelayMs = baseDelayMs + spread;
        const policy = new FailoverPolicy({
          servers: urls,
          baseDelayMs,
          maxDelayMs,
          random: replay(values),
        });
        for (let attempt = 0; attempt < 60; attempt++) {
          const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
          const { delayMs } = policy.failed();
          assert.ok(Number.isInteger(delayMs), `delay ${delayMs}`);
          assert.ok(delayMs >= 0 && delayMs <= ceiling, `delay ${delayMs} > ${ceiling}`);
        }
      }),
      RUN,
    );
  });

  it('tries every URL, round robin, one per failure', () => {
    fc.assert(
      fc.property(servers, draws, fc.integer({ min: 1, max: 30 }), (urls, values, failures) => {
        const policy = new FailoverPolicy({ servers: urls, random: replay(values) });
        const tried = [policy.server];
        for (let i = 0; i < failures; i++) tried.push(policy.failed().server);
        tried.forEach((url, i) => assert.equal(url, urls[i % urls.length]));
        // Within one pass of the list, every URL has had its turn.
        if (tried.length >= urls.length) {
          assert.deepEqual(new Set(tried.slice(0, urls.length)), new Set(urls));
        }
      }),
      RUN,
    );
  });

  it('with one URL, degenerates to the single-server policy: same delays, same URL', () => {
    fc.assert(
      fc.property(
        fc.webUrl(),
        draws,
        base,
        extra,
        fc.array(fc.constantFrom('fail', 'stable', 'brief', 'wake'), { maxLength: 40 }),
        (url, values, baseDelayMs, spread, steps) => {
          const options = { baseDelayMs, maxDelayMs: baseDelayMs + spread, stableAfterMs: 1_000 };
          const failover = new FailoverPolicy({
            ...options,
            servers: [url],
            random: replay(values),
          });
          const single = new ReconnectPolicy({ ...options, random: replay(values) });
          let now = 0;
          for (const step of steps) {
            if (step === 'fail') {
              const next = failover.failed();
              assert.equal(next.server, url);
              assert.equal(next.delayMs, single.nextDelay());
            } else if (step === 'wake') {
              failover.reset();
              single.reset();
            } else {
              failover.connected(now);
              single.connected(now);
              now += step === 'stable' ? 1_000 : 999;
              failover.disconnected(now);
              single.disconnected(now);
            }
            assert.equal(failover.attempt, single.attempt);
            assert.equal(failover.ceilingMs, single.ceilingMs);
          }
        },
      ),
      RUN,
    );
  });

  it('starts the backoff over only after a connection that stayed up', () => {
    const policy = new FailoverPolicy({
      servers: ['http://a', 'http://b'],
      baseDelayMs: 100,
      stableAfterMs: 1_000,
      random: () => 0.999_999,
    });
    for (let i = 0; i < 4; i++) policy.failed();
    assert.equal(policy.ceilingMs, 1_600);
    // Authenticated, then dropped at once (a node that accepts and fails): no reset.
    policy.connected(0);
    policy.disconnected(10);
    assert.equal(policy.ceilingMs, 1_600);
    policy.connected(100);
    policy.disconnected(1_100);
    assert.equal(policy.ceilingMs, 100);
    // The rotation keeps its place through the reset.
    assert.equal(policy.server, 'http://a');
    assert.equal(policy.failed().server, 'http://b');
  });

  it('refuses an empty list', () => {
    assert.throws(() => new FailoverPolicy({ servers: [], random: () => 0 }), RangeError);
  });
});

describe('server list', () => {
  it('reads one URL as a list of one (profiles written before lists)', () => {
    assert.deepEqual(parseServerList('http://127.0.0.1:8080'), ['http://127.0.0.1:8080']);
  });

  it('splits on commas, trims, drops blanks and repeats, and keeps the order', () => {
    assert.deepEqual(parseServerList(' wss://b.example , http://a:1,,ws://c:2,wss://b.example'), [
      'wss://b.example',
      'http://a:1',
      'ws://c:2',
    ]);
    assert.equal(formatServerList(parseServerList('https://x, https://y')), 'https://x,https://y');
  });

  it('names the URL it refuses', () => {
    for (const bad of ['ftp://files.example', 'not a url', 'localhost:8080']) {
      assert.throws(
        () => parseServerList(`http://ok:1,${bad},http://ok:2`),
        (error: unknown) =>
          ClientError.is(error, 'invalid-argument') && error.message.includes(`"${bad}"`),
      );
    }
    assert.throws(
      () => parseServerList(' , '),
      (error: unknown) => ClientError.is(error, 'invalid-argument'),
    );
  });
});
