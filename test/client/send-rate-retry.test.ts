/**
 * Sends against the server's per-account send limits and its disk guards:
 * `rate-limited` and `storage-full` refusals are waited out (on a fake clock)
 * and the same request sent again, so every message arrives exactly once and
 * in order; the waits are bounded; `queue-full` is a typed error naming the
 * recipient and the limit, and the CLI's line for it says so.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { describeError } from '../../src/cli/cli-error.js';
import { QuintetClient } from '../../src/client/core/client.js';
import { toHex } from '../../src/client/core/bytes.js';
import { ClientError } from '../../src/client/core/errors.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import type { ServerLimits } from '../../src/server/config.js';
import { StoreError } from '../../src/server/store/types.js';
import { ManualClock } from '../server/helpers/server.js';
import { ctx, EventQueue, registerDevice, type TestDevice } from './helpers/clients.js';

describe('sends past the server limits', { timeout: 120_000 }, () => {
  let server: RunningServer | undefined;
  const clients: QuintetClient[] = [];
  let clock: ManualClock;
  let slept: number[];
  /** Every 1:1 send request on the wire: its envelope contents and its refusal, if any. */
  let sends: { contents: string[]; refused: string | undefined }[];

  beforeEach(() => {
    clock = new ManualClock(Date.now());
    slept = [];
    sends = [];
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    await server?.close();
    server = undefined;
  });

  async function start(limits: Partial<ServerLimits>): Promise<RunningServer> {
    server = await startServer({ port: 0, memory: true, logLevel: 'silent', clock, limits });
    return server;
  }

  /** A client whose waits move the server's clock: buckets refill, nobody sleeps. */
  async function online(
    running: RunningServer,
    device: TestDevice,
  ): Promise<{ client: QuintetClient; events: EventQueue }> {
    const transport = await WsTransport.connect(running.url);
    const request = transport.request.bind(transport);
    transport.request = async (body) => {
      const response = await request(body);
      if (body?.case === 'sendMessage') {
        const envelopes = body.value.envelopes ?? [];
        sends.push({
          contents: envelopes.map((e) => toHex(e.content ?? new Uint8Array())),
          refused: response.error?.code,
        });
      }
      return response;
    };
    const client = new QuintetClient({
      ctx: { ...ctx, clock },
      store: device.store,
      transport,
      sleep: (ms) => {
        slept.push(ms);
        clock.advance(ms);
        return Promise.resolve();
      },
    });
    clients.push(client);
    const events = new EventQueue(client.events());
    await client.start();
    return { client, events };
  }

  /** Makes the next `times` enqueues fail as a full disk does (or `code`); returns the attempt count. */
  function failEnqueues(
    running: RunningServer,
    times: number,
    code: 'storage-full' | 'unavailable' = 'storage-full',
  ): { attempts: number } {
    const queue = running.store.queue;
    const enqueue = queue.enqueue.bind(queue);
    const seen = { attempts: 0 };
    queue.enqueue = (...args) => {
      seen.attempts++;
      if (seen.attempts <= times) {
        return Promise.reject(new StoreError(code, 'refused (test)'));
      }
      return enqueue(...args);
    };
    return seen;
  }

  it('delivers every message exactly once and in order past the send burst', async () => {
    const running = await start({ sendRateBurst: 3, sendRatePerSecond: 1 });
    const alice = await registerDevice(running, 'sr-alice');
    const bob = await registerDevice(running, 'sr-bob');
    const a = await online(running, alice);
    const texts = Array.from({ length: 10 }, (_, i) => `message ${i}`);
    for (const text of texts) await a.client.sendText('sr-bob', text);
    // The server did refuse: the waits it named are what got the rest through.
    assert.ok(slept.length >= texts.length - 3, `slept ${slept.length} times`);
    assert.ok(
      slept.every((ms) => ms === 1_000),
      `waits ${slept.join(',')}`,
    );
    assert.equal(await running.store.queue.count('sr-bob', 1), texts.length);
    // Each refused request went out again byte for byte (not re-encrypted).
    const refused = sends.filter((send) => send.refused !== undefined);
    assert.ok(refused.length > 0);
    for (const [i, send] of sends.entries()) {
      if (send.refused === undefined) continue;
      assert.equal(send.refused, 'rate-limited');
      assert.deepEqual(sends[i + 1]?.contents, send.contents, `retry of request ${i}`);
    }

    const b = await online(running, bob);
    const received: string[] = [];
    for (let i = 0; i < texts.length; i++) {
      received.push((await b.events.next('message')).message.text);
    }
    assert.deepEqual(received, texts);
    await b.client.idle();
    assert.equal(b.events.all('message').length, texts.length, 'nothing shown twice');
    assert.equal(b.events.all('decryption-failure').length, 0);
  });

  it('waits out a group send refused by the send limit, re-sending the same request', async () => {
    const running = await start({ sendRateBurst: 2, sendRatePerSecond: 1 });
    const names = ['sg-bob', 'sg-carol'];
    for (const name of names) await registerDevice(running, name);
    const alice = await registerDevice(running, 'sg-alice');
    const a = await online(running, alice);
    const group = await a.client.groups.create('crowd', names);
    for (let i = 0; i < 5; i++) await a.client.groups.send(group.groupId, `hello ${i}`);
    assert.ok(slept.length >= 3, `slept ${slept.length} times`);
    for (const name of names) {
      // One sender key distribution plus each message, once.
      assert.equal(await running.store.queue.count(name, 1), 6, name);
    }
  });

  it('retries a send refused with storage-full and delivers it once', async () => {
    const running = await start({});
    const alice = await registerDevice(running, 'sf-alice');
    const bob = await registerDevice(running, 'sf-bob');
    const a = await online(running, alice);
    const refusals = failEnqueues(running, 2);
    await a.client.sendText('sf-bob', 'after the disk filled');
    assert.equal(refusals.attempts, 3);
    assert.deepEqual(slept, [5_000, 5_000]);
    assert.equal(await running.store.queue.count('sf-bob', 1), 1);
    const b = await online(running, bob);
    assert.equal((await b.events.next('message')).message.text, 'after the disk filled');
  });

  it('retries a send refused because the database is unavailable and delivers it once', async () => {
    const running = await start({});
    const alice = await registerDevice(running, 'su-alice');
    const bob = await registerDevice(running, 'su-bob');
    const a = await online(running, alice);
    const refusals = failEnqueues(running, 2, 'unavailable');
    await a.client.sendText('su-bob', 'after the failover');
    assert.equal(refusals.attempts, 3);
    assert.deepEqual(slept, [1_000, 1_000]);
    assert.equal(await running.store.queue.count('su-bob', 1), 1);
    const b = await online(running, bob);
    assert.equal((await b.events.next('message')).message.text, 'after the failover');
  });

  it('gives up after a bounded number of refusals', async () => {
    const running = await start({});
    const alice = await registerDevice(running, 'sb-alice');
    await registerDevice(running, 'sb-bob');
    const a = await online(running, alice);
    const refusals = failEnqueues(running, Number.MAX_SAFE_INTEGER);
    await assert.rejects(a.client.sendText('sb-bob', 'never stored'), (error) =>
      ClientError.isServer(error, 'storage-full'),
    );
    // The first attempt plus the default eight retries.
    assert.equal(refusals.attempts, 9);
    assert.equal(slept.length, 8);
    assert.equal(await running.store.queue.count('sb-bob', 1), 0);
  });

  it('fails a send to a full queue with a typed error naming recipient and limit', async () => {
    const running = await start({ maxQueuedEnvelopes: 2 });
    const alice = await registerDevice(running, 'qf-alice');
    await registerDevice(running, 'qf-bob');
    const a = await online(running, alice);
    await a.client.sendText('qf-bob', 'one');
    await a.client.sendText('qf-bob', 'two');
    const error = await a.client.sendText('qf-bob', 'three').then(
      () => assert.fail('the third send was accepted'),
      (e: unknown) => e,
    );
    assert.ok(ClientError.is(error, 'queue-full'), String(error));
    assert.equal(error.account, 'qf-bob');
    assert.equal(error.details?.limit, 'queue-count');
    assert.deepEqual(slept, [], 'not waited out: waiting does not empty a queue');
    assert.equal(await running.store.queue.count('qf-bob', 1), 2, 'queued messages survive');
    assert.equal(
      describeError(error),
      'queue-full: the server queue of a device of qf-bob is at its bound (queue-count); nothing was sent. Try again after the recipient has fetched its messages',
    );
  });

  it('names the sole recipient of a group send refused with queue-full', async () => {
    const running = await start({ maxQueuedEnvelopes: 2 });
    await registerDevice(running, 'gq-bob');
    const alice = await registerDevice(running, 'gq-alice');
    const a = await online(running, alice);
    const group = await a.client.groups.create('pair', ['gq-bob']);
    // The distribution and the first message fill bob's queue.
    await a.client.groups.send(group.groupId, 'one');
    await assert.rejects(
      a.client.groups.send(group.groupId, 'two'),
      (error) =>
        ClientError.is(error, 'queue-full') &&
        error.account === 'gq-bob' &&
        error.details?.limit === 'queue-count',
    );
    assert.equal(await running.store.queue.count('gq-bob', 1), 2);
  });
});
