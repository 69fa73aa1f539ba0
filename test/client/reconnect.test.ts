/**
 * The reconnecting connection against the real server (in-process): it
 * survives a server restart on the same data directory and a dropped TCP
 * connection, re-authenticates and resumes delivery with every message
 * exactly once — including one whose ack was lost in the drop, which the
 * server delivers again and the processed mark turns into a no-op. It
 * reconnects after 1001/4004/4006 and stops for good after 4001 (replaced)
 * and 4003 (logged out) and on a login refused with `device-removed`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import type { Push, Response } from '../../src/gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../src/wire/frame.js';
import { ClientError } from '../../src/client/core/errors.js';
import {
  Reconnector,
  type ReconnectorEvent,
  type ReconnectorOptions,
  type StopReason,
} from '../../src/client/core/reconnector.js';
import type { Transport } from '../../src/client/core/transport.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { tempDir } from '../e2e/harness.js';
import {
  ctx,
  linkDevice,
  registerDevice,
  unlinkDevice,
  type TestDevice,
} from './helpers/clients.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

/** Collects a reconnector's events and waits for conditions on them. */
class Collected {
  readonly seen: ReconnectorEvent[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(events: AsyncIterable<ReconnectorEvent>) {
    void (async () => {
      for await (const event of events) {
        this.seen.push(event);
        for (const wake of this.#waiters) wake();
      }
    })();
  }

  /** Texts of every `message` event, in order. */
  get texts(): string[] {
    return this.seen.flatMap((e) => (e.type === 'message' ? [e.message.text] : []));
  }

  /** Connection state events. */
  get states(): string[] {
    return this.seen.flatMap((e) => (e.type === 'connection' ? [e.state] : []));
  }

  /** Waits until `find` returns something (failing after `timeoutMs`, a hang guard only). */
  async until<T>(
    what: string,
    find: (seen: readonly ReconnectorEvent[]) => T | undefined,
    timeoutMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find(this.seen);
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(this.summary())}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, remaining);
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.#waiters;
        waiters.add(done);
      });
    }
  }

  /** Waits for the message `text`. */
  message(text: string): Promise<true> {
    return this.until(`message "${text}"`, () => (this.texts.includes(text) ? true : undefined));
  }

  /** Waits for the `count`-th `online` state. */
  online(count: number): Promise<true> {
    return this.until(`online #${count}`, () =>
      this.states.filter((s) => s === 'online').length >= count ? true : undefined,
    );
  }

  /** Waits for the final `stopped` state and returns it. */
  stopped(): Promise<Extract<ReconnectorEvent, { state: 'stopped' }>> {
    return this.until('stopped', (seen) =>
      seen.find((e): e is Extract<ReconnectorEvent, { state: 'stopped' }> => {
        return e.type === 'connection' && e.state === 'stopped';
      }),
    );
  }

  summary(): string[] {
    return this.seen.map((e) =>
      e.type === 'connection'
        ? `connection:${e.state}${e.state === 'waiting' ? `:${e.cause}:${String(e.closeCode)}` : ''}`
        : e.type === 'message'
          ? `message:${e.message.text}`
          : e.type,
    );
  }
}

/**
 * A transport the test controls: counts envelope pushes, can lose the next
 * ack (drop the connection instead of sending it), and can drop the
 * connection reporting any close code.
 */
class ControlledTransport implements Transport {
  #closeCode: number | undefined;
  loseNextAck = false;

  constructor(
    readonly inner: WsTransport,
    private readonly onEnvelope: (push: Push) => void,
  ) {}

  async request(body: RequestBody): Promise<Response> {
    if (body?.case === 'ack' && this.loseNextAck) {
      this.loseNextAck = false;
      await this.inner.close();
      throw new ClientError('transport-closed', 'the test dropped the connection before the ack');
    }
    return this.inner.request(body);
  }

  get pushes(): AsyncIterable<Push> {
    const inner = this.inner.pushes;
    const onEnvelope = this.onEnvelope;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const push of inner) {
          if (push.kind.case === 'envelope') onEnvelope(push);
          yield push;
        }
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get closeCode(): number | undefined {
    return this.#closeCode ?? this.inner.closeCode;
  }

  /** Closes the connection and reports `code` as the server's close code. */
  async drop(code: number): Promise<void> {
    this.#closeCode = code;
    await this.inner.close();
  }
}

/** Backoff waits recorded, and run after a token few ms (time is not what is tested here). */
function quickSchedule(delays: number[]): NonNullable<ReconnectorOptions['schedule']> {
  return (ms, callback) => {
    delays.push(ms);
    const timer = setTimeout(callback, 5);
    return () => clearTimeout(timer);
  };
}

describe('reconnecting client', { timeout: 180_000 }, () => {
  const dir = tempDir('quintet-reconnect-');
  let server: RunningServer;
  let alice: TestDevice;
  let bob: TestDevice;
  const running: Reconnector[] = [];

  const restart = async (): Promise<void> => {
    const port = server.port;
    await server.close();
    server = await startServer({ port, dataDir: join(dir.path, 'data'), logLevel: 'silent' });
  };

  /** Sends `texts` from alice over a fresh connection. */
  const send = async (...texts: string[]): Promise<void> => {
    const { client } = await alice.online();
    for (const text of texts) await client.sendText('bob', text);
    await client.close();
  };

  const follow = (
    device: TestDevice,
    options: Partial<ReconnectorOptions> = {},
  ): {
    reconnector: Reconnector;
    events: Collected;
    delays: number[];
    done: Promise<StopReason>;
  } => {
    const delays: number[] = [];
    const reconnector = new Reconnector({
      ctx,
      store: device.store,
      connect: () => WsTransport.connect(server.url),
      schedule: quickSchedule(delays),
      ...options,
    });
    const events = new Collected(reconnector.events());
    running.push(reconnector);
    return { reconnector, events, delays, done: reconnector.start() };
  };

  before(async () => {
    server = await startServer({ port: 0, dataDir: join(dir.path, 'data'), logLevel: 'silent' });
    alice = await registerDevice(server, 'alice');
    bob = await registerDevice(server, 'bob');
  });
  after(async () => {
    for (const reconnector of running) await reconnector.stop();
    await server.close();
    dir.cleanup();
  });

  it('survives a server restart: re-authenticates and resumes delivery, each message once', async () => {
    const { reconnector, events } = follow(bob);
    await events.online(1);
    await send('before restart 1', 'before restart 2');
    await events.message('before restart 2');
    await restart();
    // The server said it is going away (1001): reconnect, not stop.
    await events.until('a wait after close 1001', (seen) =>
      seen.find((e) => e.type === 'connection' && e.state === 'waiting' && e.closeCode === 1001),
    );
    await send('after restart 1', 'after restart 2');
    await events.message('after restart 2');
    await events.online(2);
    await reconnector.stop();
    assert.deepEqual(events.texts, [
      'before restart 1',
      'before restart 2',
      'after restart 1',
      'after restart 2',
    ]);
    assert.equal((await events.stopped()).reason, 'stopped');
  });

  it('survives a dropped connection and gets what was sent while it was away', async () => {
    const proxy = await startTcpProxy(server.port);
    const { reconnector, events, delays } = follow(bob, {
      connect: () => WsTransport.connect(proxy.url),
    });
    await events.online(1);
    await send('over the proxy');
    await events.message('over the proxy');
    // The network goes away: the socket dies without a close frame, and
    // reconnect attempts fail until it is back.
    proxy.refuse(true);
    proxy.cut();
    await events.until('a failed reconnect attempt', (seen) =>
      seen.find((e) => e.type === 'connection' && e.state === 'waiting' && e.cause !== 'closed'),
    );
    await send('while away 1', 'while away 2');
    proxy.refuse(false);
    await events.message('while away 2');
    await send('after the drop');
    await events.message('after the drop');
    await reconnector.stop();
    await proxy.close();
    assert.deepEqual(events.texts, [
      'over the proxy',
      'while away 1',
      'while away 2',
      'after the drop',
    ]);
    const waits = events.seen.flatMap((e) =>
      e.type === 'connection' && e.state === 'waiting' ? [e] : [],
    );
    assert.equal(waits[0]?.cause, 'closed');
    assert.equal(waits[0]?.closeCode, 1006);
    // Failed attempts grow the backoff ceiling (full jitter keeps each delay within it).
    assert.ok(delays.length >= 2);
    for (const [i, delay] of delays.entries()) assert.ok(delay <= 1_000 * 2 ** i, `delay ${i}`);
  });

  it('notices a connection that went silent (no close, no RST) and reconnects', async () => {
    // The server pings every 200 ms here; the client drops a connection
    // that stayed silent for 2 s (in production: pings every 30 s, 60 s).
    const port = server.port;
    await server.close();
    server = await startServer({
      port,
      dataDir: join(dir.path, 'data'),
      logLevel: 'silent',
      heartbeatMs: 200,
    });
    const proxy = await startTcpProxy(server.port);
    const { reconnector, events } = follow(bob, {
      connect: () => WsTransport.connect(proxy.url, { idleTimeoutMs: 2_000 }),
    });
    await events.online(1);
    proxy.stall();
    await events.until('a wait after the silent drop', (seen) =>
      seen.find((e) => e.type === 'connection' && e.state === 'waiting' && e.closeCode === 1006),
    );
    await send('after the silence');
    await events.message('after the silence');
    await reconnector.stop();
    await proxy.close();
    await restart();
    assert.deepEqual(events.texts, ['after the silence']);
  });

  it('with keep-alive probes, drops a silent connection the transport cannot see die', async () => {
    const proxy = await startTcpProxy(server.port);
    const { reconnector, events } = follow(bob, {
      // No ping watchdog (as in a browser): only the probes can notice.
      connect: () => WsTransport.connect(proxy.url, { idleTimeoutMs: 0, requestTimeoutMs: 1_000 }),
      keepAliveMs: 100,
      schedule: (ms, callback) => {
        const timer = setTimeout(callback, Math.min(ms, 100));
        return () => clearTimeout(timer);
      },
    });
    await events.online(1);
    proxy.stall();
    await events.online(2);
    await send('after the probe noticed');
    await events.message('after the probe noticed');
    await reconnector.stop();
    await proxy.close();
    assert.deepEqual(events.texts, ['after the probe noticed']);
  });

  it('shows a message whose ack was lost in a drop once, though the server delivers it twice', async () => {
    let envelopes = 0;
    const transports: ControlledTransport[] = [];
    const { reconnector, events } = follow(bob, {
      connect: async () => {
        const transport = new ControlledTransport(await WsTransport.connect(server.url), () => {
          envelopes += 1;
        });
        // The first connection stores the message and then loses its ack.
        transport.loseNextAck = transports.length === 0;
        transports.push(transport);
        return transport;
      },
    });
    await events.online(1);
    await send('ack lost');
    await events.message('ack lost');
    await events.online(2);
    await send('next one');
    await events.message('next one');
    await reconnector.stop();
    assert.equal(envelopes, 3, 'the unacked envelope was delivered again');
    assert.deepEqual(events.texts, ['ack lost', 'next one']);
    assert.equal(
      events.seen.filter((e) => e.type === 'decryption-failure').length,
      0,
      'the redelivery was recognised, not decrypted again',
    );
  });

  for (const code of [1001, 4004, 4006]) {
    it(`reconnects after close ${code}`, async () => {
      const transports: ControlledTransport[] = [];
      const { reconnector, events } = follow(bob, {
        connect: async () => {
          const t = new ControlledTransport(await WsTransport.connect(server.url), () => {});
          transports.push(t);
          return t;
        },
      });
      await events.online(1);
      await transports[0]?.drop(code);
      await events.online(2);
      await send(`after ${code}`);
      await events.message(`after ${code}`);
      await reconnector.stop();
      assert.equal(transports.length, 2);
    });
  }

  for (const [code, reason] of [
    [4001, 'replaced'],
    [4003, 'logged-out'],
  ] as const) {
    it(`stops for good after close ${code}`, async () => {
      const transports: ControlledTransport[] = [];
      const { events, done } = follow(bob, {
        connect: async () => {
          const t = new ControlledTransport(await WsTransport.connect(server.url), () => {});
          transports.push(t);
          return t;
        },
      });
      await events.online(1);
      await transports[0]?.drop(code);
      assert.equal(await done, reason);
      assert.equal((await events.stopped()).reason, reason);
      assert.equal(transports.length, 1, 'no reconnect attempt');
      assert.equal(events.states.filter((s) => s === 'waiting').length, 0);
    });
  }

  it('stops when a newer connection of the same device replaces it (real 4001)', async () => {
    const { events, done } = follow(bob);
    await events.online(1);
    const other = await bob.online();
    assert.equal(await done, 'replaced');
    const disconnected = events.seen.find((e) => e.type === 'disconnected');
    assert.equal(disconnected?.type === 'disconnected' ? disconnected.closeCode : 0, 4001);
    // The newer connection is left alone.
    await send('to the newer connection');
    await other.events.next('message', 20_000);
    await other.client.close();
  });

  it('stops when the device is removed (real 4003), and a later login is refused for good', async () => {
    const companion = await linkDevice(server, bob, 'bob-laptop');
    const { events, done } = follow(companion);
    await events.online(1);
    await unlinkDevice(server, bob, companion.deviceId);
    assert.equal(await done, 'logged-out');
    assert.ok(events.seen.some((e) => e.type === 'logged-out'));

    const again = follow(companion);
    assert.equal(await again.done, 'logged-out');
    const stopped = await again.events.stopped();
    assert.ok(ClientError.isServer(stopped.error, 'device-removed'));
    assert.equal(again.events.states.filter((s) => s === 'waiting').length, 0);
  });

  it('with failFast, stops at once when the first attempt cannot reach the server', async () => {
    const proxy = await startTcpProxy(server.port);
    proxy.refuse(true);
    const { events, done } = follow(bob, {
      connect: () => WsTransport.connect(proxy.url),
      failFast: true,
    });
    assert.equal(await done, 'failed');
    const stopped = await events.stopped();
    assert.ok(ClientError.is(stopped.error, 'connect-failed'));
    await proxy.close();
  });

  it('grows the backoff over failed attempts and resets it after a stable connection', async () => {
    const proxy = await startTcpProxy(server.port);
    let now = Date.now();
    const { reconnector, events, delays } = follow(bob, {
      ctx: { ...ctx, clock: { now: () => now } },
      connect: () => WsTransport.connect(proxy.url),
      // Every delay at its ceiling, so the sequence shows the backoff state.
      backoff: { random: () => 1, baseDelayMs: 1_000, stableAfterMs: 60_000 },
    });
    await events.online(1);
    // A drop, then failed attempts: the ceilings double (1 s, 2 s, 4 s, …).
    proxy.refuse(true);
    proxy.cut();
    await events.until('four waits', () => (delays.length >= 4 ? true : undefined));
    proxy.refuse(false);
    await events.online(2);
    const waited = delays.length;
    // Up only briefly (by the injected clock): the backoff keeps growing.
    now += 5_000;
    proxy.cut();
    await events.online(3);
    // Up for a minute: stable, so the next drop starts over at the base.
    now += 60_000;
    proxy.cut();
    await events.online(4);
    await reconnector.stop();
    await proxy.close();
    assert.deepEqual(delays.slice(0, 4), [1_000, 2_000, 4_000, 8_000]);
    assert.equal(delays.length, waited + 2);
    assert.equal(delays[waited], Math.min(30_000, 1_000 * 2 ** waited), 'not reset');
    assert.equal(delays[waited + 1], 1_000, 'reset after a stable connection');
  });

  it('waits its backoff delay, and wake() or stop() cut the wait short', async () => {
    const proxy = await startTcpProxy(server.port);
    proxy.refuse(true);
    const pending: Array<() => void> = [];
    const { reconnector, events, done } = follow(bob, {
      connect: () => WsTransport.connect(proxy.url),
      // A timer that never fires by itself: only wake()/stop() can end a wait.
      schedule: (_ms, callback) => {
        pending.push(callback);
        return () => undefined;
      },
    });
    await events.until('first wait', (seen) =>
      seen.find((e) => e.type === 'connection' && e.state === 'waiting'),
    );
    assert.equal(events.states.filter((s) => s === 'connecting').length, 1);
    proxy.refuse(false);
    reconnector.wake();
    await events.online(1);
    proxy.refuse(true);
    proxy.cut();
    await events.until('second wait', (seen) =>
      seen.filter((e) => e.type === 'connection' && e.state === 'waiting').length >= 2
        ? true
        : undefined,
    );
    await reconnector.stop();
    assert.equal(await done, 'stopped');
    await proxy.close();
  });
});
