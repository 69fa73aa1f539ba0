/**
 * The reconnect backoff: capped exponential ceilings, full jitter across the
 * whole [0, ceiling] range from the injected random source, reset only after
 * a stable connection, and which close codes must not reconnect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  closeDisposition,
  ReconnectPolicy,
  unitRandom,
} from '../../src/client/core/reconnect-policy.js';

/** A random source that always returns `value`. */
const fixed = (value: number) => () => value;

describe('reconnect policy', () => {
  it('doubles the ceiling per attempt up to the cap', () => {
    const policy = new ReconnectPolicy({
      baseDelayMs: 1_000,
      maxDelayMs: 30_000,
      random: fixed(1),
    });
    const delays = Array.from({ length: 8 }, () => policy.nextDelay());
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('never exceeds the cap, even after very many attempts', () => {
    const policy = new ReconnectPolicy({ random: fixed(0.999999) });
    for (let i = 0; i < 2_000; i++) {
      const delay = policy.nextDelay();
      assert.ok(delay >= 0 && delay <= 30_000, `delay ${delay}`);
      assert.ok(Number.isFinite(delay));
    }
  });

  it('jitters over the full range [0, ceiling]', () => {
    const low = new ReconnectPolicy({ baseDelayMs: 1_000, random: fixed(0) });
    const mid = new ReconnectPolicy({ baseDelayMs: 1_000, random: fixed(0.5) });
    for (let i = 0; i < 3; i++) low.nextDelay();
    for (let i = 0; i < 3; i++) mid.nextDelay();
    // Fourth attempt: ceiling 8 s.
    assert.equal(low.nextDelay(), 0);
    assert.equal(mid.nextDelay(), 4_000);
  });

  it('spreads delays from a real random source across the range', () => {
    const values = [0.05, 0.95, 0.3, 0.7];
    let i = 0;
    const policy = new ReconnectPolicy({
      baseDelayMs: 1_000,
      maxDelayMs: 1_000,
      random: () => values[i++ % values.length] ?? 0,
    });
    const delays = values.map(() => policy.nextDelay());
    assert.deepEqual(delays, [50, 950, 300, 700]);
  });

  it('clamps a random source that leaves [0, 1)', () => {
    const negative = new ReconnectPolicy({ random: fixed(-3) });
    const large = new ReconnectPolicy({ random: fixed(7) });
    const nan = new ReconnectPolicy({ random: fixed(Number.NaN) });
    assert.equal(negative.nextDelay(), 0);
    assert.equal(large.nextDelay(), 1_000);
    assert.equal(nan.nextDelay(), 1_000);
  });

  it('resets the backoff after a stable connection only', () => {
    const policy = new ReconnectPolicy({
      baseDelayMs: 1_000,
      stableAfterMs: 60_000,
      random: fixed(1),
    });
    for (let i = 0; i < 4; i++) policy.nextDelay();
    assert.equal(policy.ceilingMs, 16_000);
    // Up for 5 s: not stable, the backoff keeps growing.
    policy.connected(100_000);
    policy.disconnected(105_000);
    assert.equal(policy.nextDelay(), 16_000);
    // Up for a minute: stable, back to the base.
    policy.connected(200_000);
    policy.disconnected(260_000);
    assert.equal(policy.attempt, 0);
    assert.equal(policy.nextDelay(), 1_000);
    // A disconnect without a connection (a failed attempt) does not reset.
    policy.disconnected(900_000);
    assert.equal(policy.nextDelay(), 2_000);
  });

  it('refuses nonsensical bounds', () => {
    assert.throws(() => new ReconnectPolicy({ baseDelayMs: 0, random: fixed(0) }), RangeError);
    assert.throws(
      () => new ReconnectPolicy({ baseDelayMs: 5_000, maxDelayMs: 1_000, random: fixed(0) }),
      RangeError,
    );
  });

  it('draws uniform numbers in [0, 1) from random bytes', () => {
    const zeros = unitRandom((n) => new Uint8Array(n));
    const ones = unitRandom((n) => new Uint8Array(n).fill(0xff));
    const half = unitRandom((n) => {
      const bytes = new Uint8Array(n);
      bytes[0] = 0x10;
      return bytes;
    });
    assert.equal(zeros(), 0);
    assert.ok(ones() < 1 && ones() > 0.999999);
    assert.equal(half(), 0.5);
  });

  it('reconnects after transient closes, never after replaced or logged out', () => {
    for (const code of [1000, 1001, 1006, 1009, 1011, 4002, 4004, 4005, 4006, 4999, undefined]) {
      assert.equal(closeDisposition(code), 'reconnect', `code ${String(code)}`);
    }
    assert.equal(closeDisposition(4001), 'replaced');
    assert.equal(closeDisposition(4003), 'logged-out');
  });
});
