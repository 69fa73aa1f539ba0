/**
 * Clients that never read what the server sends them cannot grow its
 * memory: a real server process (`quintet server`, SQLite store) is flooded
 * by clients whose sockets are paused — (a) unauthenticated ones asking for
 * challenges, (b) authenticated ones asking for their device list, (c)
 * devices that other clients send many messages to — while the test reads
 * the server's resident memory from /proc. With the output budget the
 * growth stays at a few MiB per connection and every stuck connection is
 * closed (4004, counted in /metrics); without it (run with
 * QUINTET_TEST_OUTPUT_BUDGET=1000000000000) the server buffers everything
 * and this test fails.
 *
 * Each pattern's peak growth is reported as a test diagnostic.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, before, beforeEach, describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { encodeFrame, requestFrame } from '../../src/wire/frame.js';
import { ensureBuilt, tempDir } from '../e2e/harness.js';
import { registeredDevice, sendTo, type ConnectedDevice } from './helpers/device.js';

const MiB = 1024 * 1024;
const BUDGET = Number(process.env['QUINTET_TEST_OUTPUT_BUDGET'] ?? MiB);
const STUCK_SECONDS = 3;
/**
 * What the server may grow by under one pattern: the budget (and its hard
 * bound of twice the budget) per connection plus garbage-collector slack.
 * Without the budget each pattern makes it buffer hundreds of MiB.
 */
const GROWTH_BOUND = 96 * MiB;
/**
 * The server runs with a capped V8 heap, as in a memory-limited container,
 * so what is measured is what it holds on to rather than how lazily the
 * collector returns garbage (uncapped, the heap alone grows by tens of MiB
 * before a full collection). A server that buffered unread output runs out
 * of heap and dies, or grows its off-heap buffers far past the bound.
 */
const SERVER_NODE_OPTIONS =
  process.env['QUINTET_TEST_SERVER_NODE_OPTIONS'] ??
  '--max-old-space-size=64 --max-semi-space-size=4';
/** Paused clients per pattern. */
const CLIENTS = 6;
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'quintet.js');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `quintet server` in its own process, so its memory is its own. */
class ServerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static start(dataDir: string): Promise<ServerProcess> {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'server',
        '--port',
        '0',
        '--data',
        dataDir,
        '--no-web',
        '--log-level',
        'silent',
        '--max-connection-output-bytes',
        String(BUDGET),
        '--output-stuck-seconds',
        String(STUCK_SECONDS),
        // Pattern (a) is about the output budget, not the login deadline.
        '--auth-timeout-seconds',
        '600',
        '--registration-burst',
        '1000',
        // Pattern (c) floods its victims from three accounts, far past what
        // the per-account send limits allow one person; those limits are
        // tested elsewhere (disk-limits.test.ts).
        '--send-rate-burst',
        '100000',
        '--send-rate-per-second',
        '100000',
        '--send-bytes-burst',
        String(1024 * 1024 * 1024),
        '--send-bytes-per-second',
        String(1024 * 1024 * 1024),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: SERVER_NODE_OPTIONS },
      },
    );
    return new Promise((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match?.[1] !== undefined) resolve(new ServerProcess(child, match[1]));
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`server exited (${code}): ${output}`)));
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get wsUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}/v1/websocket`;
  }

  /** Resident memory, from /proc. */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    assert.ok(kib !== undefined, 'no VmRSS');
    return Number(kib) * 1024;
  }

  async stuckCloses(): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    return Number(/^quintet_output_stuck_closes_total (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

/** A WebSocket that reads nothing after opening. */
function pausedSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.pause();
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Sends `frame` `count` times, as fast as the socket takes it: it stops
 * writing while its own buffer is full (the server is not reading), so the
 * test process does not balloon either. Ends early on `stop()` or close.
 */
async function flood(
  socket: WebSocket,
  frame: Uint8Array,
  count: number,
  stopped: () => boolean,
): Promise<void> {
  socket.on('error', () => undefined);
  let sent = 0;
  while (sent < count && socket.readyState === WebSocket.OPEN && !stopped()) {
    if (socket.bufferedAmount > MiB / 2) {
      await sleep(20);
      continue;
    }
    for (let i = 0; i < 500 && sent < count; i++, sent++) socket.send(frame);
    await sleep(0);
  }
}

/**
 * Runs `load` against the server while sampling its memory, until the
 * server has closed `expected` more stuck connections or the load is over
 * and the stuck deadline has passed without that. Returns the peak growth
 * over the memory before the load, and how many were closed.
 */
async function underLoad(
  server: ServerProcess,
  expected: number,
  load: (stopped: () => boolean) => Promise<unknown>,
): Promise<{ growth: number; peak: number; closed: number }> {
  const before = await server.stuckCloses();
  const baseline = server.rssBytes();
  let peak = baseline;
  let done = false;
  const sampler = setInterval(() => {
    // A server that died (out of memory) fails the checks below instead.
    if (server.alive) peak = Math.max(peak, server.rssBytes());
  }, 25);
  let loadOver = false;
  const running = load(() => done).finally(() => {
    loadOver = true;
  });
  let closed = 0;
  let overSince: number | undefined;
  const deadline = Date.now() + 120_000;
  try {
    while (Date.now() < deadline) {
      assert.ok(server.alive, 'the server died (out of memory?)');
      closed = (await server.stuckCloses()) - before;
      if (closed >= expected) break;
      if (loadOver) {
        overSince ??= Date.now();
        if (Date.now() - overSince > (STUCK_SECONDS * 5 + 5) * 1000) break;
      }
      await sleep(250);
    }
    peak = Math.max(peak, server.rssBytes());
  } finally {
    // Stop the clients whatever happened: a paused socket does not notice
    // that the server went away.
    done = true;
    clearInterval(sampler);
    await running;
  }
  return { growth: peak - baseline, peak, closed };
}

function report(
  t: TestContext,
  pattern: string,
  result: { growth: number; peak: number; closed: number },
): void {
  t.diagnostic(
    JSON.stringify({
      pattern,
      budgetBytes: BUDGET,
      serverNodeOptions: SERVER_NODE_OPTIONS,
      peakRssMiB: Number((result.peak / MiB).toFixed(1)),
      peakRssGrowthMiB: Number((result.growth / MiB).toFixed(1)),
      stuckCloses: result.closed,
    }),
  );
}

describe('slow readers', { timeout: 600_000 }, () => {
  // A fresh server per pattern: memory a process has freed is reused
  // before it grows, so patterns sharing one would hide each other.
  let dir: ReturnType<typeof tempDir>;
  let server: ServerProcess;
  before(() => ensureBuilt());
  beforeEach(async () => {
    dir = tempDir('quintet-slow-');
    server = await ServerProcess.start(dir.path);
  });
  afterEach(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('(a) unauthenticated clients asking for challenges', async (t) => {
    const sockets = await Promise.all(
      Array.from({ length: CLIENTS }, () => pausedSocket(server.wsUrl)),
    );
    const frame = encodeFrame(requestFrame(1n, { case: 'challenge', value: {} }));
    const { growth, peak, closed } = await underLoad(server, CLIENTS, (stopped) =>
      Promise.all(sockets.map((socket) => flood(socket, frame, 300_000, stopped))),
    );
    for (const socket of sockets) socket.terminate();
    report(t, 'unauthenticated challenge requests', { growth, peak, closed });
    assert.ok(growth < GROWTH_BOUND, `server grew by ${growth} bytes`);
    assert.equal(closed, CLIENTS);
  });

  it('(b) authenticated clients asking for their device list', async (t) => {
    const devices: ConnectedDevice[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      devices.push(
        await registeredDevice(server.wsUrl, `reader${i}`, { deviceName: 'x'.repeat(64) }),
      );
    }
    const { growth, peak, closed } = await underLoad(server, CLIENTS, (stopped) =>
      Promise.all(
        devices.map((device) => {
          device.client.socket.pause();
          const frame = encodeFrame(
            requestFrame(1n, { case: 'getDevices', value: { account: device.account } }),
          );
          return flood(device.client.socket, frame, 100_000, stopped);
        }),
      ),
    );
    for (const device of devices) device.client.socket.terminate();
    report(t, 'authenticated get-devices requests', { growth, peak, closed });
    assert.ok(growth < GROWTH_BOUND, `server grew by ${growth} bytes`);
    assert.equal(closed, CLIENTS);
  });

  it('(c) devices that others send many messages to', async (t) => {
    const victims: ConnectedDevice[] = [];
    const senders: ConnectedDevice[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      victims.push(await registeredDevice(server.wsUrl, `victim${i}`));
    }
    for (let i = 0; i < 3; i++) senders.push(await registeredDevice(server.wsUrl, `sender${i}`));
    for (const victim of victims) victim.client.socket.pause();
    const content = new Uint8Array(32 * 1024).fill(7);
    // 3 senders × 300 messages of 32 KiB to each victim: ~28 MiB per victim.
    const send = async (sender: ConnectedDevice, stopped: () => boolean): Promise<void> => {
      for (let round = 0; round < 300 && !stopped(); round++) {
        await Promise.all(
          victims.map(async (victim) => {
            const response = await sendTo(
              sender.client,
              victim.account,
              [{ deviceId: 1, registrationId: victim.identity.registrationId }],
              content,
            );
            assert.equal(response.error, undefined, response.error?.message);
          }),
        );
      }
    };
    const { growth, peak, closed } = await underLoad(server, CLIENTS, (stopped) =>
      Promise.all(senders.map((sender) => send(sender, stopped))),
    );
    for (const device of [...victims, ...senders]) device.client.socket.terminate();
    report(t, 'target of pushes', { growth, peak, closed });
    assert.ok(growth < GROWTH_BOUND, `server grew by ${growth} bytes`);
    assert.equal(closed, CLIENTS);
  });
});
