/**
 * Connection-level limits: the authentication deadline (4005), the total
 * and per-address connection caps (HTTP 503 before any connection exists),
 * deadlines for sockets that never finish an HTTP request or upgrade, and
 * the per-address registration limit at its production default.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { CloseCodes } from '../../src/server/connection.js';
import { DEFAULT_LIMITS } from '../../src/server/config.js';
import { newIdentity, registerOver, registeredDevice } from './helpers/device.js';
import { openCompanion } from './helpers/linking.js';
import { RawClient, withTimeout } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const BIG_BYTES = 64 * 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The HTTP status an upgrade attempt got: 101 when it opened (then closed again). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    socket.once('error', reject);
  });
}

/** Resolves when the server ends or resets `socket`. */
function socketClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.on('error', () => undefined);
    socket.resume();
  });
}

describe('authentication deadline', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { authTimeoutMs: 300 } });
  });
  after(() => t.close());

  it('closes a connection that does not authenticate in time with 4005', async () => {
    const client = await RawClient.connect(t.wsUrl);
    // Asking for challenges is not authenticating.
    await client.request({ case: 'challenge', value: {} });
    const closed = await withTimeout(client.closed, 5000, 'close');
    assert.equal(closed.code, CloseCodes.authTimeout);
    assert.equal(t.server.metrics.authTimeouts, 1);
  });

  it('leaves an authenticated connection open past the deadline', async () => {
    const device = await registeredDevice(t.wsUrl, 'alice');
    await sleep(600);
    const response = await device.client.request({ case: 'preKeyStatus', value: {} });
    assert.equal(response.error, undefined);
    device.client.close();
  });

  it('gives a companion waiting for its link approval the lifetime of its link', async () => {
    const companion = await openCompanion(t.wsUrl);
    await sleep(600);
    const again = await companion.client.request({ case: 'openLink', value: {} });
    assert.equal(again.error, undefined);
    companion.client.close();
  });
});

describe('connection caps', () => {
  it('refuses upgrades past the total cap with 503, without opening a connection', async () => {
    const t = await startTestServer({ limits: { maxConnections: 2 } });
    try {
      const a = await RawClient.connect(t.wsUrl);
      const b = await RawClient.connect(t.wsUrl);
      assert.equal(await upgradeStatus(t.wsUrl), 503);
      assert.equal(t.server.metrics.connectionsOpened, 2);
      assert.equal(t.server.metrics.upgradesRefused.get('total'), 1);
      a.close();
      await a.closed;
      await sleep(50);
      assert.equal(await upgradeStatus(t.wsUrl), 101);
      b.close();
    } finally {
      await t.close();
    }
  });

  it('refuses upgrades past the per-address cap with 503', async () => {
    const t = await startTestServer({ limits: { maxConnectionsPerAddress: 2 } });
    try {
      const a = await RawClient.connect(t.wsUrl);
      const b = await RawClient.connect(t.wsUrl);
      assert.equal(await upgradeStatus(t.wsUrl), 503);
      assert.equal(t.server.metrics.connectionsOpened, 2);
      assert.equal(t.server.metrics.upgradesRefused.get('per-address'), 1);
      b.close();
      await b.closed;
      await sleep(50);
      assert.equal(await upgradeStatus(t.wsUrl), 101);
      a.close();
    } finally {
      await t.close();
    }
  });

  it('has production defaults that allow a busy server', () => {
    assert.ok(DEFAULT_LIMITS.maxConnections >= 10_000);
    assert.ok(DEFAULT_LIMITS.maxConnectionsPerAddress >= 100);
    assert.ok(DEFAULT_LIMITS.authTimeoutMs <= 10_000);
  });
});

describe('sockets that never finish a request', () => {
  let t: TestServer;
  let port: number;
  let webDir: string;
  before(async () => {
    t = await startTestServer({
      limits: { httpHeadersTimeoutMs: 400, httpRequestTimeoutMs: 800 },
    });
    port = t.server.port;
    webDir = mkdtempSync(join(tmpdir(), 'quintet-web-'));
    writeFileSync(join(webDir, 'big.bin'), new Uint8Array(BIG_BYTES));
  });
  after(async () => {
    await t.close();
    rmSync(webDir, { recursive: true, force: true });
  });

  it('closes a socket that sends nothing', async () => {
    const socket = connect(port, '127.0.0.1');
    await withTimeout(socketClosed(socket), 10_000, 'idle socket to be closed');
  });

  it('closes a socket that trickles its headers (slow loris)', async () => {
    const socket = connect(port, '127.0.0.1');
    const closed = socketClosed(socket);
    let open = true;
    void closed.then(() => {
      open = false;
    });
    socket.write('GET /v1/websocket HTTP/1.1\r\nHost: x\r\n');
    // One header byte every 100 ms: never idle long enough for the idle timer.
    for (let i = 0; i < 100 && open; i++) {
      socket.write('X');
      await sleep(100);
    }
    assert.equal(open, false, 'the server kept a trickling socket open for 10 s');
  });

  it('closes a socket that does not read its HTTP response', async () => {
    // A response bigger than the kernel buffers: its writes stall, and the
    // idle timer (not the request deadlines: the request was complete) ends it.
    const big = await startTestServer({
      staticDir: webDir,
      limits: { httpHeadersTimeoutMs: 400, httpRequestTimeoutMs: 800 },
    });
    try {
      const socket = connect(big.server.port, '127.0.0.1');
      socket.pause();
      socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
      // Read nothing for well past the idle time, then see what arrives: a
      // socket the server dropped ends early, one it kept gets everything.
      await sleep(2000);
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      await withTimeout(socketClosed(socket), 10_000, 'the dropped response to end');
      assert.ok(received < BIG_BYTES, `got all ${received} bytes: the socket was kept`);
    } finally {
      await big.close();
    }
  });

  it('does not close an upgraded WebSocket that is idle', async () => {
    const device = await registeredDevice(t.wsUrl, 'idle-but-authenticated');
    await sleep(1000);
    const response = await device.client.request({ case: 'preKeyStatus', value: {} });
    assert.equal(response.error, undefined);
    device.client.close();
  });
});

describe('registration rate limit (production default)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      limits: {
        registrationBurst: DEFAULT_LIMITS.registrationBurst,
        registrationsPerHour: DEFAULT_LIMITS.registrationsPerHour,
      },
    });
  });
  after(() => t.close());

  it('allows a burst per address, then names the limit and when to retry', async () => {
    const client = await RawClient.connect(t.wsUrl);
    for (let i = 0; i < DEFAULT_LIMITS.registrationBurst; i++) {
      const fresh = await RawClient.connect(t.wsUrl);
      const ok = await registerOver(fresh, `user${i}`, await newIdentity());
      assert.equal(ok.error, undefined, ok.error?.message);
      fresh.close();
    }
    const refused = await registerOver(client, 'one-too-many', await newIdentity());
    assert.equal(refused.error?.code, 'rate-limited');
    assert.equal(refused.error?.limit, 'registration-per-address');
    const retry = refused.error?.retryAfterMs ?? 0;
    assert.ok(retry > 0 && retry <= 3_600_000 / DEFAULT_LIMITS.registrationsPerHour, `${retry}`);
    assert.equal(await t.store.accounts.listDevices('one-too-many'), undefined);
    // After the advertised wait, one more registration goes through.
    t.clock.advance(retry);
    const later = await registerOver(client, 'one-too-many', await newIdentity());
    assert.equal(later.error, undefined, later.error?.message);
    client.close();
  });

  it('names the per-connection challenge limit', async () => {
    const client = await RawClient.connect(t.wsUrl);
    let last;
    for (let i = 0; i <= DEFAULT_LIMITS.maxChallengesPerConnection; i++) {
      last = await client.request({ case: 'challenge', value: {} });
    }
    assert.equal(last?.error?.code, 'rate-limited');
    assert.equal(last?.error?.limit, 'challenges-per-connection');
    client.close();
  });
});
