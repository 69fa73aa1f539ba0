/**
 * Failover between two servers over one database: two in-process servers
 * (`startServer` twice) share ONE in-memory store, as cluster nodes share
 * PostgreSQL. A device following on server 1 moves to server 2 when server
 * 1 goes away mid-stream and ends with every message exactly once, in order
 * — including those it had stored on server 1 whose acks were lost, which
 * server 2 delivers again and the processed mark turns into no-ops. A send
 * cut off with its connection is sent again on the next server under the
 * same message id: the server queues it twice, the recipient shows it once.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Push, Response } from '../../src/gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../src/wire/frame.js';
import { QuintetClient } from '../../src/client/core/client.js';
import { ClientError } from '../../src/client/core/errors.js';
import { Reconnector, type ReconnectorEvent } from '../../src/client/core/reconnector.js';
import type { Transport } from '../../src/client/core/transport.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { ServerStore } from '../../src/server/store/types.js';
import { ctx, registerDevice, type TestDevice } from './helpers/clients.js';

/** Two servers on one store. */
interface Pair {
  readonly store: ServerStore;
  readonly one: RunningServer;
  readonly two: RunningServer;
}

const pairs: Pair[] = [];
const running: Reconnector[] = [];

async function startPair(): Promise<Pair> {
  const store = createMemoryStore();
  // Each server closes its store when it stops; the survivor must keep
  // using it, so both get a view whose close is left to the test.
  const shared: ServerStore = { ...store, close: () => Promise.resolve() };
  const start = (): Promise<RunningServer> =>
    startServer({
      port: 0,
      store: shared,
      logLevel: 'silent',
      limits: { registrationBurst: 1_000_000 },
    });
  const pair = { store, one: await start(), two: await start() };
  pairs.push(pair);
  return pair;
}

/** Forwards to a real connection, except what the test tampers with. */
class Tampered implements Transport {
  constructor(
    readonly inner: WsTransport,
    private readonly tamper: (
      body: RequestBody,
      inner: WsTransport,
    ) => Promise<Response> | undefined,
  ) {}
  request(body: RequestBody): Promise<Response> {
    return this.tamper(body, this.inner) ?? this.inner.request(body);
  }
  get pushes(): AsyncIterable<Push> {
    return this.inner.pushes;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  get closeCode(): number | undefined {
    return this.inner.closeCode;
  }
}

/** A reconnector's events, with a way to wait for one. */
class Seen {
  readonly events: ReconnectorEvent[] = [];
  #wake: (() => void) | undefined;

  constructor(source: AsyncIterable<ReconnectorEvent>) {
    void (async () => {
      for await (const event of source) {
        this.events.push(event);
        this.#wake?.();
      }
    })();
  }

  get texts(): string[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.message.text] : []));
  }

  /** Waits until `ready()` (failing after a hang guard, not a timed assertion). */
  async until(what: string, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** Runs backoff waits after a token few ms: the order of events is tested, not time. */
const quick = (_ms: number, callback: () => void): (() => void) => {
  const timer = setTimeout(callback, 5);
  return () => clearTimeout(timer);
};

/** Sends `texts` from `device` over a fresh connection to `server`, one after another. */
async function sendVia(
  server: RunningServer,
  device: TestDevice,
  to: string,
  texts: readonly string[],
): Promise<void> {
  const transport = await WsTransport.connect(server.url);
  const client = new QuintetClient({ ctx, store: device.store, transport, receive: false });
  await client.start();
  try {
    for (const text of texts) await client.sendText(to, text);
  } finally {
    await client.close();
  }
}

const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

describe('failover between servers sharing one store', { timeout: 120_000 }, () => {
  after(async () => {
    for (const reconnector of running) await reconnector.stop();
    for (const pair of pairs) {
      await pair.one.close();
      await pair.two.close();
      await pair.store.close();
    }
  });

  it('moves to server 2 when server 1 closes mid-stream: every message once, in order', async () => {
    const { store, one, two } = await startPair();
    const alice = await registerDevice(one, 'alice');
    const bob = await registerDevice(one, 'bob');
    const reconnector = new Reconnector({
      ctx,
      store: bob.store,
      servers: [one.url, two.url],
      connect: async (server) => {
        const socket = await WsTransport.connect(server ?? one.url);
        if (server !== one.url) return socket;
        // On server 1 every ack is lost: what bob stored there stays queued.
        return new Tampered(socket, (body) =>
          body?.case === 'ack'
            ? Promise.reject(new ClientError('timeout', 'the test lost this ack'))
            : undefined,
        );
      },
      schedule: quick,
    });
    running.push(reconnector);
    const seen = new Seen(reconnector.events());
    void reconnector.start();
    await seen.until('online on server 1', () => reconnector.client !== undefined);
    assert.equal(reconnector.server, one.url);

    // Received live on server 1, acks lost.
    await sendVia(one, alice, 'bob', range(1, 5));
    await seen.until('m5 on server 1', () => seen.texts.includes('m5'));
    assert.equal(await store.queue.count('bob', 1), 5);

    // Streamed from a client on server 2; server 1 goes away in the middle.
    const streaming = (async () => {
      const transport = await WsTransport.connect(two.url);
      const client = new QuintetClient({ ctx, store: alice.store, transport, receive: false });
      await client.start();
      let closing: Promise<void> | undefined;
      for (const text of range(6, 20)) {
        await client.sendText('bob', text);
        if (text === 'm10') closing = one.close();
      }
      await closing;
      await client.close();
    })();
    await streaming;
    await seen.until('m20', () => seen.texts.includes('m20'));
    await seen.until('the queue drained on server 2', () =>
      seen.events.some((e) => e.type === 'queue-drained' && reconnector.server === two.url),
    );
    await reconnector.client?.idle();

    assert.deepEqual(seen.texts, range(1, 20));
    assert.equal(reconnector.server, two.url);
    const attempts = seen.events.flatMap((e) =>
      e.type === 'connection' && e.state === 'connecting' ? [e.server] : [],
    );
    assert.deepEqual(attempts.slice(0, 2), [one.url, two.url]);
    // Server 2 re-delivered m1..m5 and bob acked them there without showing them again.
    assert.equal(await store.queue.count('bob', 1), 0);
    await reconnector.stop();
  });

  it('re-sends a send cut off with its connection on the next server, shown once', async () => {
    const { store, one, two } = await startPair();
    const alice = await registerDevice(one, 'carol');
    const bob = await registerDevice(one, 'dave');
    let armed = true;
    const reconnector = new Reconnector({
      ctx,
      store: alice.store,
      servers: [one.url, two.url],
      receive: false,
      connect: async (server) => {
        const socket = await WsTransport.connect(server ?? one.url);
        // Server 1 queues the send, then the connection dies before its answer arrives.
        return new Tampered(socket, (body, inner) => {
          if (server !== one.url || body?.case !== 'sendMessage' || !armed) return undefined;
          armed = false;
          return inner.request(body).then(async () => {
            await inner.close();
            throw new ClientError('transport-closed', 'the test dropped the answer');
          });
        });
      },
      schedule: quick,
    });
    running.push(reconnector);
    const seen = new Seen(reconnector.events());
    void reconnector.start();

    const sent = await reconnector.sendText('dave', 'only once');
    assert.equal(reconnector.server, two.url);
    // Both servers queued it: the retry really happened.
    assert.equal(await store.queue.count('dave', 1), 2);

    const { client, events } = await bob.online();
    await events.next('queue-drained', 10_000);
    await client.close();
    const shown = events.all('message');
    assert.deepEqual(
      shown.map((e) => e.message.text),
      ['only once'],
    );
    assert.deepEqual(shown[0]?.message.id, sent.message.id);
    assert.equal(await store.queue.count('dave', 1), 0);
    assert.ok(seen.events.some((e) => e.type === 'connection' && e.state === 'waiting'));
    await reconnector.stop();
  });

  it('with failFast, reaches the second server when the first cannot be reached', async () => {
    const { one } = await startPair();
    const erin = await registerDevice(one, 'erin');
    // Port 1 on loopback: nothing listens there, the connect is refused.
    const unreachable = 'http://127.0.0.1:1';
    const reconnector = new Reconnector({
      ctx,
      store: erin.store,
      servers: [unreachable, one.url],
      connect: (server) => WsTransport.connect(server ?? unreachable),
      failFast: true,
      schedule: quick,
    });
    running.push(reconnector);
    const seen = new Seen(reconnector.events());
    void reconnector.start();
    await seen.until('online', () =>
      seen.events.some(
        (e) => e.type === 'connection' && (e.state === 'online' || e.state === 'stopped'),
      ),
    );
    assert.equal(reconnector.server, one.url);
    assert.ok(seen.events.some((e) => e.type === 'connection' && e.state === 'online'));
    await reconnector.stop();
  });
});
