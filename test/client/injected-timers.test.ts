/**
 * Every wait of the client runs on the injected scheduler (issue 13): the
 * Node and browser transports' connect, request and idle timeouts and their
 * closing-handshake wait, the companion's waits between link codes, and a
 * device opened through the SDK. Each test drives a fake scheduler whose
 * timers fire only when the test fires them, with timeouts of an hour: a
 * transport that went back to the platform timer leaves the fake scheduler
 * empty and the test fails at once, instead of waiting.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket as NodeWebSocket, WebSocketServer } from 'ws';
import { ClientError } from '../../src/client/core/errors.js';
import { linkCompanion } from '../../src/client/core/linking/companion.js';
import type { Scheduler } from '../../src/client/core/scheduler.js';
import { BrowserWsTransport } from '../../src/client/transport/browser-ws-transport.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { nodePlatform, QuintetDevice, registerDevice } from '../../src/sdk/index.js';
import { contextFor, startTestServer, type TestServer } from './linking-helpers.js';
import { memoryStore } from '../sdk/helpers.js';

const HOUR_MS = 3_600_000;

interface FakeTimer {
  readonly ms: number;
  readonly callback: () => void;
  state: 'pending' | 'cancelled' | 'fired';
}

/** A scheduler whose timers fire only when the test says so. */
class FakeScheduler {
  readonly timers: FakeTimer[] = [];
  readonly schedule: Scheduler = (ms, callback) => {
    const timer: FakeTimer = { ms, callback, state: 'pending' };
    this.timers.push(timer);
    return () => {
      if (timer.state === 'pending') timer.state = 'cancelled';
    };
  };

  /** The pending timers of `ms`. */
  pending(ms: number): FakeTimer[] {
    return this.timers.filter((timer) => timer.state === 'pending' && timer.ms === ms);
  }

  /** Fires the one pending timer of `ms` (fails when there is not exactly one). */
  fire(ms: number): void {
    const [timer, ...more] = this.pending(ms);
    assert.ok(timer !== undefined, `a pending ${ms} ms timer on the injected scheduler`);
    assert.equal(more.length, 0, `one pending ${ms} ms timer`);
    timer.state = 'fired';
    timer.callback();
  }
}

/** Resolves with the promise's state after pending I/O callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<'pending' | 'settled'> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done ? 'settled' : 'pending';
}

/** A WebSocket server that accepts connections and never answers a frame. */
async function silentWsServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** A TCP server that accepts connections and never completes a WebSocket handshake. */
async function mutePort(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The browser transport runs on the `ws` package's WebSocket, which has the
 * browser's API; unlike a browser it throws on an 'error' nobody listens
 * to, so one listener is added.
 */
class BrowserLikeWebSocket extends NodeWebSocket {
  constructor(url: string) {
    super(url);
    this.on('error', () => undefined);
  }
}

describe('injected timers', () => {
  let silent: Awaited<ReturnType<typeof silentWsServer>>;
  let mute: Awaited<ReturnType<typeof mutePort>>;
  before(async () => {
    silent = await silentWsServer();
    mute = await mutePort();
  });
  after(async () => {
    await silent.close();
    await mute.close();
  });

  it('Node transport: a request times out when the injected clock says so, not before', async () => {
    const timers = new FakeScheduler();
    const transport = await WsTransport.connect(silent.url, {
      schedule: timers.schedule,
      requestTimeoutMs: HOUR_MS,
      idleTimeoutMs: 0,
    });
    const request = transport.request({ case: 'preKeyStatus', value: {} });
    request.catch(() => undefined);
    assert.equal(await settled(request), 'pending');
    timers.fire(HOUR_MS);
    await assert.rejects(request, (error: unknown) => ClientError.is(error, 'timeout'));
    await transport.close();
  });

  it('Node transport: the connect timeout is on the injected clock', async () => {
    const timers = new FakeScheduler();
    const connecting = WsTransport.connect(mute.url, {
      schedule: timers.schedule,
      connectTimeoutMs: HOUR_MS,
    });
    connecting.catch(() => undefined);
    assert.equal(await settled(connecting), 'pending');
    timers.fire(HOUR_MS);
    await assert.rejects(connecting, (error: unknown) => ClientError.is(error, 'connect-failed'));
  });

  it('Node transport: a silent connection is dropped by the idle check on the injected clock', async () => {
    const timers = new FakeScheduler();
    const transport = await WsTransport.connect(silent.url, {
      schedule: timers.schedule,
      idleTimeoutMs: HOUR_MS,
    });
    const ended = (async () => {
      for await (const push of transport.pushes) void push;
    })();
    assert.equal(await settled(ended), 'pending');
    timers.fire(HOUR_MS);
    await ended;
    assert.equal(transport.closeCode, 1006);
    assert.equal(timers.pending(HOUR_MS).length, 0, 'no idle check left after the close');
  });

  it('Node transport: the closing-handshake wait is on the injected clock and cancelled by the close', async () => {
    const timers = new FakeScheduler();
    const transport = await WsTransport.connect(silent.url, {
      schedule: timers.schedule,
      idleTimeoutMs: 0,
    });
    await transport.close();
    const waits = timers.timers.filter((timer) => timer.ms === 2_000);
    assert.deepEqual(
      waits.map((timer) => timer.state),
      ['cancelled'],
    );
  });

  describe('browser transport', () => {
    const original = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
    before(() => {
      Object.defineProperty(globalThis, 'WebSocket', {
        value: BrowserLikeWebSocket,
        configurable: true,
        writable: true,
      });
    });
    after(() => {
      if (original === undefined) Reflect.deleteProperty(globalThis, 'WebSocket');
      else Object.defineProperty(globalThis, 'WebSocket', original);
    });

    it('a request times out when the injected clock says so, not before', async () => {
      const timers = new FakeScheduler();
      const transport = await BrowserWsTransport.connect(silent.url.replace('http', 'ws'), {
        schedule: timers.schedule,
        requestTimeoutMs: HOUR_MS,
      });
      const request = transport.request({ case: 'preKeyStatus', value: {} });
      request.catch(() => undefined);
      assert.equal(await settled(request), 'pending');
      timers.fire(HOUR_MS);
      await assert.rejects(request, (error: unknown) => ClientError.is(error, 'timeout'));
      await transport.close();
      assert.deepEqual(
        timers.timers.filter((timer) => timer.ms === 2_000).map((timer) => timer.state),
        ['cancelled'],
        'the closing-handshake wait is on the injected clock',
      );
    });

    it('the connect timeout is on the injected clock', async () => {
      const timers = new FakeScheduler();
      const connecting = BrowserWsTransport.connect(mute.url.replace('http', 'ws'), {
        schedule: timers.schedule,
        connectTimeoutMs: HOUR_MS,
      });
      connecting.catch(() => undefined);
      assert.equal(await settled(connecting), 'pending');
      timers.fire(HOUR_MS);
      await assert.rejects(connecting, (error: unknown) => ClientError.is(error, 'connect-failed'));
    });
  });

  describe('with a Quintet server', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer();
    });
    after(async () => {
      await server.close();
    });

    it('a companion waits for a new link code on the injected clock', async () => {
      const timers = new FakeScheduler();
      const transport = await WsTransport.connect(server.wsUrl);
      const codes: string[] = [];
      let shown: () => void = () => undefined;
      const nextCode = (): Promise<void> =>
        new Promise((resolve) => {
          shown = resolve;
        });
      let first = nextCode();
      const linking = linkCompanion(contextFor(server), transport, {
        serverUrl: server.wsUrl,
        deviceName: 'timers',
        platform: 'cli',
        timeoutMs: 10 * HOUR_MS,
        schedule: timers.schedule,
        onCode: (offer) => {
          codes.push(offer.text);
          shown();
        },
      });
      linking.catch(() => undefined);
      await first;
      // The code lives 60 s on the server's (manual) clock; the companion
      // sleeps that long on the injected scheduler, then shows a new one.
      for (let turn = 0; turn < 100 && timers.pending(60_000).length === 0; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(codes.length, 1);
      first = nextCode();
      server.clock.advance(60_000);
      timers.fire(60_000);
      await first;
      assert.equal(codes.length, 2);
      assert.notEqual(codes[0], codes[1]);
      await transport.close();
      await assert.rejects(linking, (error: unknown) => ClientError.is(error, 'transport-closed'));
    });

    it('a device opened through the SDK connects, requests and closes on the injected timer', async () => {
      const timers = new FakeScheduler();
      const made = await registerDevice({
        store: memoryStore(),
        platform: nodePlatform,
        servers: server.wsUrl,
        account: 'timers-sdk',
        schedule: timers.schedule,
      });
      assert.ok(
        timers.timers.some((timer) => timer.ms === 10_000),
        'registration connects on it',
      );
      const opened = new FakeScheduler();
      const device = await QuintetDevice.open({
        store: made.store,
        platform: nodePlatform,
        schedule: opened.schedule,
      });
      await device.ready();
      await device.close();
      const kinds = new Set(opened.timers.map((timer) => timer.ms));
      assert.ok(kinds.has(10_000), 'the connect timeout');
      assert.ok(kinds.has(30_000), 'the request timeouts');
      assert.ok(kinds.has(2_000), 'the closing-handshake wait');
      assert.deepEqual(opened.pending(30_000), [], 'answered requests cancel their timers');
    });
  });
});
