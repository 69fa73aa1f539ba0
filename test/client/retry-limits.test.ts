/**
 * Retry requests and session resets are rate-limited per peer device
 * (retry-limiter.ts), on the client's injected clock, against the real
 * server in-process:
 * - a flood of undecryptable envelopes from one device is acked and
 *   reported in full, but answered with at most a burst of retry requests
 *   (counted in the sender's queue on the server); time brings one more;
 * - a flood of retry requests from one device resets sessions and re-sends
 *   at most a burst of times.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QuintetClient } from '../../src/client/core/client.js';
import { serializeContent } from '../../src/client/core/content.js';
import { RETRY_REQUEST_LIMIT, SESSION_RESET_LIMIT } from '../../src/client/core/retry-limiter.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import type { RunningServer } from '../../src/server/main.js';
import { ManualClock } from '../server/helpers/server.js';
import {
  ctx,
  EventQueue,
  registerDevice,
  testServer,
  withApi,
  type TestDevice,
} from './helpers/clients.js';

/** A client for `device` whose clock only moves when the test says so. */
async function onlineWithClock(
  server: RunningServer,
  device: TestDevice,
  clock: ManualClock,
): Promise<{ client: QuintetClient; events: EventQueue }> {
  const transport = await WsTransport.connect(server.url);
  const client = new QuintetClient({ ctx: { ...ctx, clock }, store: device.store, transport });
  const events = new EventQueue(client.events());
  await client.start();
  return { client, events };
}

/** Sends raw envelopes from `from` to device 1 of `to` (no session involved). */
async function sendRaw(
  server: RunningServer,
  from: TestDevice,
  to: TestDevice,
  type: EnvelopeType,
  contents: readonly Uint8Array[],
): Promise<void> {
  const registrationId = (await to.store.account.getRequired()).registrationId;
  await withApi(server, from.store, async (api) => {
    let timestamp = Date.now();
    for (const content of contents) {
      await api.sendMessage(to.name, [{ deviceId: 1, registrationId, type, content }], timestamp++);
    }
  });
}

describe('retry rate limits (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('answers a flood of undecryptable envelopes with at most a burst of retry requests', async () => {
    const alice = await registerDevice(server, 'rl-alice');
    const mallory = await registerDevice(server, 'rl-mallory');
    const flood = 40;
    const garbage = Array.from({ length: flood }, () => ctx.random(120));
    await sendRaw(server, mallory, alice, EnvelopeType.SIGNAL, garbage);

    const clock = new ManualClock(Date.now());
    const a = await onlineWithClock(server, alice, clock);
    await a.events.next('queue-drained', 20_000);
    await a.client.idle();
    const failures = a.events.all('decryption-failure');
    assert.equal(failures.length, flood, 'every envelope is reported');
    const asked = failures.filter((f) => f.retryRequested).length;
    assert.equal(asked, RETRY_REQUEST_LIMIT.burst);
    assert.equal(await server.store.queue.count('rl-alice', 1), 0, 'every envelope was acked');
    assert.equal(
      await server.store.queue.count('rl-mallory', 1),
      RETRY_REQUEST_LIMIT.burst,
      'only a burst of retry requests reached the server',
    );

    // Time refills the bucket: one more failure, one more request.
    clock.advance(RETRY_REQUEST_LIMIT.refillMs);
    await sendRaw(server, mallory, alice, EnvelopeType.SIGNAL, [ctx.random(120)]);
    const next = await a.events.next('decryption-failure');
    assert.equal(next.retryRequested, true);
    await sendRaw(server, mallory, alice, EnvelopeType.SIGNAL, [ctx.random(120)]);
    assert.equal((await a.events.next('decryption-failure')).retryRequested, false);
    await a.client.idle();
    assert.equal(await server.store.queue.count('rl-mallory', 1), RETRY_REQUEST_LIMIT.burst + 1);
    await a.client.close();
  });

  it('resets sessions for at most a burst of retry requests from one device', async () => {
    const alice = await registerDevice(server, 'rs-alice');
    const bob = await registerDevice(server, 'rs-bob');
    const clock = new ManualClock(Date.now());
    const a = await onlineWithClock(server, alice, clock);
    const count = SESSION_RESET_LIMIT.burst + 4;
    const timestamps: number[] = [];
    for (let i = 0; i < count; i++) {
      timestamps.push((await a.client.sendText('rs-bob', `m${i}`)).message.sentAt);
    }
    const request = (timestamp: number, requesterDeviceId = 1): Uint8Array =>
      serializeContent({
        body: {
          case: 'decryptionErrorMessage',
          value: { timestamp: BigInt(timestamp), deviceId: 1, requesterDeviceId },
        },
      });
    await sendRaw(
      server,
      bob,
      alice,
      EnvelopeType.PLAINTEXT,
      timestamps.map((t) => request(t)),
    );
    const outcomes: string[] = [];
    for (let i = 0; i < count; i++) outcomes.push((await a.events.next('retry-request')).outcome);
    assert.equal(outcomes.filter((o) => o === 'resent').length, SESSION_RESET_LIMIT.burst);
    assert.equal(
      outcomes.filter((o) => o === 'rate-limited').length,
      count - SESSION_RESET_LIMIT.burst,
    );

    clock.advance(SESSION_RESET_LIMIT.refillMs);
    // A distinct envelope (the processed mark is a hash of the content).
    await sendRaw(server, bob, alice, EnvelopeType.PLAINTEXT, [request(timestamps[0] ?? 0, 2)]);
    assert.equal((await a.events.next('retry-request')).outcome, 'resent');
    await a.client.close();
  });
});
