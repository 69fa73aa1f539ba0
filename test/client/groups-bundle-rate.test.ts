/**
 * A first group send to more new accounts than the server's prekey-bundle
 * burst: the sender waits out `rate-limited` refusals (on a fake clock) and
 * reaches every member, at the server's default limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QuintetClient } from '../../src/client/core/client.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { DEFAULT_LIMITS, startServer, type RunningServer } from '../../src/server/main.js';
import { ManualClock } from '../server/helpers/server.js';
import { ctx, registerDevice, type TestDevice } from './helpers/clients.js';

/** Members beyond the per-device bundle burst (100 by default). */
const MEMBERS = DEFAULT_LIMITS.bundleRateBurst + 20;

describe('first group send past the bundle rate limit', { timeout: 600_000 }, () => {
  let server: RunningServer;
  const clock = new ManualClock(Date.now());
  before(async () => {
    // Bundle limits at their defaults; only registration is raised: the
    // test's 121 accounts all register from 127.0.0.1.
    server = await startServer({
      port: 0,
      memory: true,
      logLevel: 'silent',
      clock,
      limits: { registrationBurst: 1_000 },
    });
  });
  after(async () => {
    await server.close();
  });

  it(`reaches all ${MEMBERS} new accounts by waiting out the refusals`, async () => {
    const names = Array.from({ length: MEMBERS }, (_, i) => `br-${i}`);
    const members: TestDevice[] = [];
    for (const name of names) members.push(await registerDevice(server, name));
    const alice = await registerDevice(server, 'br-alice');
    const slept: number[] = [];
    const transport = await WsTransport.connect(server.url);
    const client = new QuintetClient({
      ctx: { ...ctx, clock },
      store: alice.store,
      transport,
      receive: false,
      // Waiting moves the server's clock: its buckets refill, nobody sleeps.
      sleep: (ms) => {
        slept.push(ms);
        clock.advance(ms);
        return Promise.resolve();
      },
    });
    await client.start();
    const group = await client.groups.create('crowd', names);
    assert.equal(group.members.size, MEMBERS + 1);
    const sent = await client.groups.send(group.groupId, 'hello crowd');
    assert.equal(sent.recipients, MEMBERS);
    assert.equal(sent.distributed, MEMBERS);
    // The server did refuse: the waits are what got the rest through.
    assert.ok(slept.length >= MEMBERS - DEFAULT_LIMITS.bundleRateBurst, `slept ${slept.length}`);
    for (const name of names) {
      // The sender key distribution and the message, for every member.
      assert.equal(await server.store.queue.count(name, 1), 2, name);
    }
    await client.close();
  });
});
