/**
 * What one account can make the server store: per-device queue bounds
 * (`queue-full`, the recipient's queue kept), per-account send rate limits
 * (`rate-limited` naming the limit and when to retry), and the bound those
 * limits put on the bytes one account can store in 60 s. Also: envelopes
 * past their lifetime are never delivered, even before the sweep.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../../src/server/config.js';
import { ROW_OVERHEAD_BYTES, SendLimits, storedBytes } from '../../src/server/send-limits.js';
import { ServiceError } from '../../src/server/errors.js';
import { registeredDevice, reconnect, sendTo, type ConnectedDevice } from './helpers/device.js';
import { ManualClock, startTestServer, type TestServer } from './helpers/server.js';

function primary(device: ConnectedDevice) {
  return [{ deviceId: 1, registrationId: device.identity.registrationId }];
}

function envelopeContent(push: Push): number | undefined {
  assert.ok(push.kind.case === 'envelope', `expected an envelope, got ${push.kind.case}`);
  return push.kind.value.content[0];
}

describe('disk limits', () => {
  let t: TestServer | undefined;
  afterEach(() => t?.close());

  async function start(limits: Partial<ServerLimits>): Promise<TestServer> {
    t = await startTestServer({ limits });
    return t;
  }

  it('refuses a send to a full queue with queue-full, and keeps the queued messages', async () => {
    const server = await start({ maxQueuedEnvelopes: 3, maxQueuedBytes: 1_000_000 });
    const alice = await registeredDevice(server.wsUrl, 'alice');
    const bob = await registeredDevice(server.wsUrl, 'bob');
    bob.client.close();
    await bob.client.closed;
    for (let i = 0; i < 3; i++) {
      const ok = await sendTo(alice.client, 'bob', primary(bob), new Uint8Array([i]));
      assert.equal(ok.error, undefined);
    }
    const full = await sendTo(alice.client, 'bob', primary(bob), new Uint8Array([3]));
    assert.equal(full.error?.code, 'queue-full');
    assert.equal(full.error.limit, 'queue-count');
    assert.match(full.error.message, /3 envelopes/);
    // The recipient gets exactly what was queued before the bound.
    const back = await reconnect(server.wsUrl, bob);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(envelopeContent(await back.client.nextPush()));
    assert.deepEqual(got, [0, 1, 2]);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    alice.client.close();
    back.client.close();
  });

  it('bounds a queue by bytes too', async () => {
    const server = await start({ maxQueuedEnvelopes: 1_000, maxQueuedBytes: 250 });
    const alice = await registeredDevice(server.wsUrl, 'alice');
    const bob = await registeredDevice(server.wsUrl, 'bob');
    bob.client.close();
    await bob.client.closed;
    assert.equal(
      (await sendTo(alice.client, 'bob', primary(bob), new Uint8Array(200))).error,
      undefined,
    );
    const full = await sendTo(alice.client, 'bob', primary(bob), new Uint8Array(51));
    assert.equal(full.error?.code, 'queue-full');
    assert.equal(full.error.limit, 'queue-bytes');
    assert.equal(await server.store.queue.count('bob', 1), 1);
    alice.client.close();
  });

  it('rate-limits sends per account, naming the limit and when to retry', async () => {
    const server = await start({ sendRateBurst: 3, sendRatePerSecond: 1 });
    const alice = await registeredDevice(server.wsUrl, 'alice');
    const bob = await registeredDevice(server.wsUrl, 'bob');
    for (let i = 0; i < 3; i++) {
      assert.equal((await sendTo(alice.client, 'bob', primary(bob))).error, undefined);
    }
    const limited = await sendTo(alice.client, 'bob', primary(bob));
    assert.equal(limited.error?.code, 'rate-limited');
    assert.equal(limited.error.limit, 'send-per-account');
    assert.equal(limited.error.retryAfterMs, 1000);
    // Another account is not affected.
    assert.equal((await sendTo(bob.client, 'alice', primary(alice))).error, undefined);
    server.clock.advance(1000);
    assert.equal((await sendTo(alice.client, 'bob', primary(bob))).error, undefined);
    alice.client.close();
    bob.client.close();
  });

  it('rate-limits the bytes an account stores', async () => {
    const server = await start({ sendBytesBurst: 3_000, sendBytesPerSecond: 1_000 });
    const alice = await registeredDevice(server.wsUrl, 'alice');
    const bob = await registeredDevice(server.wsUrl, 'bob');
    const big = new Uint8Array(1_000);
    for (let i = 0; i < 2; i++) {
      assert.equal((await sendTo(alice.client, 'bob', primary(bob), big)).error, undefined);
    }
    const limited = await sendTo(alice.client, 'bob', primary(bob), big);
    assert.equal(limited.error?.code, 'rate-limited');
    assert.equal(limited.error.limit, 'send-bytes-per-account');
    assert.ok((limited.error.retryAfterMs ?? 0) > 0);
    alice.client.close();
    bob.client.close();
  });

  it('never delivers an envelope past its lifetime, even before the sweep', async () => {
    const server = await start({});
    const alice = await registeredDevice(server.wsUrl, 'alice');
    const bob = await registeredDevice(server.wsUrl, 'bob');
    bob.client.close();
    await bob.client.closed;
    await sendTo(alice.client, 'bob', primary(bob), new Uint8Array([1]));
    server.clock.advance(DEFAULT_LIMITS.messageTtlMs - 1000);
    await sendTo(alice.client, 'bob', primary(bob), new Uint8Array([2]));
    server.clock.advance(2000);
    // No sweep ran: the first envelope is still stored, but never sent.
    assert.equal(await server.store.queue.count('bob', 1), 2);
    const back = await reconnect(server.wsUrl, bob);
    assert.equal(envelopeContent(await back.client.nextPush()), 2);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    alice.client.close();
    back.client.close();
  });
});

describe('bytes one account can make the server store in 60 s', () => {
  /**
   * The bound: the byte bucket's burst plus 60 s of refill. Before these
   * limits nothing but the server's throughput bounded it. Verified by
   * draining the limiter as an attacker would, on the injected clock.
   */
  it('is at most sendBytesBurst + 60 × sendBytesPerSecond with the defaults', () => {
    const clock = new ManualClock();
    const limits = new SendLimits(clock, DEFAULT_LIMITS);
    // The largest request: a full frame of content in as many rows as
    // allowed (each row's overhead counts too).
    const perSend = storedBytes(
      DEFAULT_LIMITS.maxFrameBytes,
      DEFAULT_LIMITS.maxEnvelopesPerRequest,
    );
    let stored = 0;
    for (let ms = 0; ms <= 60_000; ms += 10) {
      for (;;) {
        try {
          limits.charge('mallory', perSend);
        } catch (error) {
          assert.ok(ServiceError.is(error, 'rate-limited'));
          break;
        }
        stored += perSend;
      }
      clock.advance(10);
    }
    const bound = DEFAULT_LIMITS.sendBytesBurst + 60 * DEFAULT_LIMITS.sendBytesPerSecond;
    assert.ok(stored <= bound + perSend, `${stored} > ${bound}`);
    assert.ok(stored >= bound - perSend, `${stored} is far below the bound ${bound}`);
    assert.equal(bound, 124 * 1024 * 1024);
    assert.ok(ROW_OVERHEAD_BYTES > 0);
  });
});
