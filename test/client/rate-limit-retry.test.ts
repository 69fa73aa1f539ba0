/** Unit tests of waiting out `rate-limited` refusals (fake clock, no sleeping). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../../src/client/core/errors.js';
import { RateLimitedRequests } from '../../src/client/core/rate-limit-retry.js';
import { ManualClock } from '../server/helpers/server.js';

function refusal(retryAfterMs: number): ClientError {
  return new ClientError('server-error', 'server refused getPreKeyBundles: rate-limited', {
    serverCode: 'rate-limited',
    details: {
      missingDevices: [],
      extraDevices: [],
      staleDevices: [],
      retryAfterMs,
      limit: 'prekey-bundles-per-device',
    },
  });
}

/** A fake server bucket on `clock`: one token per `everyMs`, `burst` at the start. */
function bucket(clock: ManualClock, burst: number, everyMs: number): () => Promise<number> {
  let tokens = burst;
  let at = clock.now();
  let served = 0;
  return () => {
    const refill = Math.floor((clock.now() - at) / everyMs);
    tokens = Math.min(burst, tokens + refill);
    at += refill * everyMs;
    if (tokens < 1) return Promise.reject(refusal(everyMs - (clock.now() - at)));
    tokens--;
    return Promise.resolve(++served);
  };
}

function setup(maxRetries?: number): {
  clock: ManualClock;
  slept: number[];
  requests: RateLimitedRequests;
} {
  const clock = new ManualClock();
  const slept: number[] = [];
  const sleep = (ms: number): Promise<void> => {
    slept.push(ms);
    clock.advance(ms);
    return Promise.resolve();
  };
  const requests = new RateLimitedRequests({
    clock,
    sleep,
    ...(maxRetries === undefined ? {} : { maxRetries }),
  });
  return { clock, slept, requests };
}

describe('rate-limited requests', () => {
  it('waits the named time and succeeds; concurrent requests queue instead of using up retries', async () => {
    const { clock, slept, requests } = setup(2);
    const fetch = bucket(clock, 3, 500);
    const results = await Promise.all(Array.from({ length: 20 }, () => requests.run(fetch)));
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.ok(slept.every((ms) => ms > 0 && ms <= 500));
  });

  it('gives up after the bounded number of refusals', async () => {
    const { slept, requests } = setup(3);
    let calls = 0;
    await assert.rejects(
      // Served on the 11th try: only the bound stops the retries before that.
      requests.run(() => (++calls > 10 ? Promise.resolve(calls) : Promise.reject(refusal(100)))),
      (error: unknown) => ClientError.isServer(error, 'rate-limited'),
    );
    assert.equal(calls, 4);
    assert.equal(slept.length, 3);
  });

  it('fails at once when the wait is too long, or the error is not a rate limit', async () => {
    const { slept, requests } = setup();
    await assert.rejects(
      requests.run(() => Promise.reject(refusal(10 * 60_000))),
      (error: unknown) => ClientError.isServer(error, 'rate-limited'),
    );
    let calls = 0;
    await assert.rejects(
      requests.run(() => {
        calls++;
        return Promise.reject(new ClientError('transport-closed', 'closed'));
      }),
      (error: unknown) => ClientError.is(error, 'transport-closed'),
    );
    assert.equal(calls, 1);
    assert.deepEqual(slept, []);
  });
});
