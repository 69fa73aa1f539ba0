/**
 * Load generator for bench/server.ts, run as its own process so the server
 * under test keeps a core to itself. It drives N device connections that
 * send ~300-byte envelopes to a partner (connection i ↔ i^1) either through
 * the Quintet server (register, authenticate, send, push, ack) or through
 * the plain relay, and measures one-way latency send → push in this process.
 */
import { WebSocket } from 'ws';
import { nodeCrypto } from '../src/crypto/node.js';
import { systemClock } from '../src/crypto/provider.js';
import { createSignedKeyIndexList } from '../src/protocol/adv/index.js';
import { EnvelopeType } from '../src/gen/quintet/v1/transport_pb.js';
import {
  generateKeyPair,
  generateSigningKeyPair,
  sign,
  type KeyPair,
} from '../src/protocol/curve.js';
import { authenticationPayload } from '../src/wire/auth.js';
import { sendMessageRequestBytes } from '../src/wire/hot-frames.js';
import { QuintetConn } from './load-conn.js';
import { RelayKind } from './relay-wire.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);
const ENVELOPE_BYTES = 300;

/** Commands from bench/server.ts. */
export type LoadCommand =
  | {
      readonly cmd: 'run';
      readonly mode: 'quintet' | 'relay';
      readonly url: string;
      readonly conns: number;
      readonly prefix: string;
      /** Closed loop: messages in flight per connection. */
      readonly inflight?: number;
      /** Open loop: total messages per second. */
      readonly rate?: number;
      readonly warmupMs: number;
      readonly durationMs: number;
    }
  | {
      readonly cmd: 'idle';
      readonly url: string;
      readonly conns: number;
      readonly prefix: string;
      readonly phase: 'register' | 'connect' | 'disconnect';
    };

/** The result of a run. */
export interface LoadResult {
  readonly received: number;
  readonly seconds: number;
  readonly msgsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly loadCpuMs: number;
}

// ------------------------------------------------------------ quintet client

interface QuintetDevice {
  readonly account: string;
  readonly identity: KeyPair;
  readonly registrationId: number;
}

async function nonce(conn: QuintetConn): Promise<Uint8Array> {
  const r = await conn.request({ case: 'challenge', value: {} });
  if (r.body.case !== 'challenge') throw new Error(`challenge failed: ${r.error?.code}`);
  return r.body.value.nonce;
}

function drained(conn: QuintetConn): Promise<void> {
  return new Promise((resolve) => {
    conn.onDrained = resolve;
  });
}

async function register(url: string, device: QuintetDevice): Promise<QuintetConn> {
  const conn = await QuintetConn.open(url);
  const n = await nonce(conn);
  const spk = await generateKeyPair(nodeCrypto, random);
  const spkPublic = spk.publicKey.serialize();
  const done = drained(conn);
  const r = await conn.request({
    case: 'register',
    value: {
      account: device.account,
      identityKey: device.identity.publicKey.serialize(),
      registrationId: device.registrationId,
      nonce: n,
      signature: await sign(
        nodeCrypto,
        device.identity.privateKey,
        authenticationPayload(n, device.account, 1),
        random,
      ),
      signedPreKey: {
        id: 1,
        publicKey: spkPublic,
        signature: await sign(nodeCrypto, device.identity.privateKey, spkPublic, random),
      },
      // A primary registers with its signed device list (itself only).
      signedKeyIndexList: await createSignedKeyIndexList(
        { crypto: nodeCrypto, random, clock: systemClock },
        {
          accountKeyPair: device.identity,
          rawId: device.registrationId,
          timestamp: Math.floor(Date.now() / 1000),
          currentIndex: 0,
          validIndexes: [],
        },
      ),
    },
  });
  if (r.error !== undefined) throw new Error(`register failed: ${r.error.code}`);
  await done;
  return conn;
}

async function authenticate(url: string, device: QuintetDevice): Promise<QuintetConn> {
  const conn = await QuintetConn.open(url);
  const n = await nonce(conn);
  const done = drained(conn);
  const r = await conn.request({
    case: 'authenticate',
    value: {
      account: device.account,
      deviceId: 1,
      nonce: n,
      signature: await sign(
        nodeCrypto,
        device.identity.privateKey,
        authenticationPayload(n, device.account, 1),
        random,
      ),
    },
  });
  if (r.error !== undefined) throw new Error(`authenticate failed: ${r.error.code}`);
  await done;
  return conn;
}

async function makeDevices(prefix: string, n: number): Promise<QuintetDevice[]> {
  const devices: QuintetDevice[] = [];
  for (let i = 0; i < n; i++) {
    devices.push({
      account: `${prefix}${i}`,
      identity: await generateSigningKeyPair(nodeCrypto, random),
      registrationId: 1 + (i % 16000),
    });
  }
  return devices;
}

async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  f: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(f))));
  return out;
}

// ------------------------------------------------------------- measurement

class Recorder {
  private latencies = new Float64Array(1 << 20);
  private n = 0;
  measuring = false;
  received = 0;

  record(ms: number): void {
    if (!this.measuring) return;
    this.received += 1;
    if (this.n === this.latencies.length) {
      const bigger = new Float64Array(this.latencies.length * 2);
      bigger.set(this.latencies);
      this.latencies = bigger;
    }
    this.latencies[this.n++] = ms;
  }

  percentile(p: number): number {
    const sorted = this.latencies.subarray(0, this.n).sort();
    return sorted[Math.min(this.n - 1, Math.floor((p / 100) * this.n))] ?? NaN;
  }
}

/** Content layout: f64 send time (performance.now) ‖ u32 sender index ‖ padding. */
function content(sender: number): Uint8Array {
  const bytes = new Uint8Array(ENVELOPE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, performance.now());
  view.setUint32(8, sender);
  return bytes;
}

interface Driver {
  send(from: number): void;
  setOnDelivered(f: (sender: number, sentAt: number) => void): void;
  errors(): number;
  close(): void;
}

/**
 * `url` may list several servers separated by commas (the nodes of a
 * cluster): device i connects to the i-th modulo their number, so partners
 * i and i^1 are always on different nodes and every message crosses the bus.
 */
function urlOf(url: string, index: number): string {
  const urls = url.split(',');
  return urls[index % urls.length] ?? url;
}

async function quintetDriver(url: string, conns: number, prefix: string): Promise<Driver> {
  const devices = await makeDevices(prefix, conns);
  const clients = await inBatches(devices, 50, (d) => register(urlOf(url, devices.indexOf(d)), d));
  let onDelivered: (sender: number, sentAt: number) => void = () => undefined;
  for (const client of clients) {
    client.onEnvelope = (bytes) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      onDelivered(view.getUint32(8), view.getFloat64(0));
    };
  }
  return {
    send(from) {
      const partner = devices[from ^ 1];
      const client = clients[from];
      if (partner === undefined || client === undefined) return;
      const id = client.takeId();
      client.postBytes(
        id,
        sendMessageRequestBytes(id, partner.account, Date.now(), [
          {
            deviceId: 1,
            registrationId: partner.registrationId,
            type: EnvelopeType.SIGNAL,
            content: content(from),
          },
        ]),
      );
    },
    setOnDelivered(f) {
      onDelivered = f;
    },
    errors: () => clients.reduce((sum, c) => sum + c.errors, 0),
    close: () => clients.forEach((c) => c.ws.close()),
  };
}

async function relayDriver(url: string, conns: number, prefix: string): Promise<Driver> {
  const base = Number.parseInt(prefix.replace(/\D/g, '') || '0', 10) * 100_000;
  const sockets = await inBatches(
    Array.from({ length: conns }, (_, i) => i),
    50,
    (i) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`${url}?id=${base + i}`, { perMessageDeflate: false });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      }),
  );
  let onDelivered: (sender: number, sentAt: number) => void = () => undefined;
  let nextRequest = 1;
  for (const ws of sockets) {
    // Like QuintetConn: one ack per turn covering every push of the turn.
    let acks: Buffer[] = [];
    const flushAcks = (): void => {
      const header = Buffer.allocUnsafe(5);
      header[0] = RelayKind.ack;
      header.writeUInt32BE(nextRequest++, 1);
      ws.send(Buffer.concat([header, ...acks]), { binary: true });
      acks = [];
    };
    ws.on('message', (data: Buffer) => {
      if (data[0] !== RelayKind.push) return;
      if (acks.length === 0) setImmediate(flushAcks);
      // The first 16 content bytes stand in for Quintet's server guid.
      acks.push(data.subarray(1, 17));
      onDelivered(data.readUInt32BE(9), data.readDoubleBE(1));
    });
  }
  // Let the relay register every id before traffic starts.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    send(from) {
      const frame = Buffer.alloc(9 + ENVELOPE_BYTES);
      frame[0] = RelayKind.send;
      frame.writeUInt32BE(base + (from ^ 1), 1);
      frame.writeUInt32BE(nextRequest++, 5);
      frame.set(content(from), 9);
      sockets[from]?.send(frame, { binary: true });
    },
    setOnDelivered(f) {
      onDelivered = f;
    },
    errors: () => 0,
    close: () => sockets.forEach((ws) => ws.close()),
  };
}

async function run(command: Extract<LoadCommand, { cmd: 'run' }>): Promise<LoadResult> {
  const driver =
    command.mode === 'quintet'
      ? await quintetDriver(command.url, command.conns, command.prefix)
      : await relayDriver(command.url, command.conns, command.prefix);
  const recorder = new Recorder();
  let stopped = false;
  driver.setOnDelivered((sender, sentAt) => {
    recorder.record(performance.now() - sentAt);
    // Closed loop: a delivered message frees its sender's slot.
    if (command.inflight !== undefined && !stopped) driver.send(sender);
  });
  let ticker: NodeJS.Timeout | undefined;
  if (command.inflight !== undefined) {
    for (let k = 0; k < command.inflight; k++) {
      for (let i = 0; i < command.conns; i++) driver.send(i);
    }
  } else {
    // Open loop: a fixed schedule, round-robin over senders, whatever the latency.
    const rate = command.rate ?? 1000;
    const start = performance.now();
    let sent = 0;
    let next = 0;
    ticker = setInterval(() => {
      const due = Math.floor(((performance.now() - start) * rate) / 1000);
      while (sent < due && !stopped) {
        driver.send(next);
        next = (next + 1) % command.conns;
        sent += 1;
      }
    }, 1);
  }
  await sleep(command.warmupMs);
  // Tells the orchestrator to read the target's CPU time now and at the end.
  process.send?.({ window: 'start' });
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  recorder.measuring = true;
  await sleep(command.durationMs);
  recorder.measuring = false;
  process.send?.({ window: 'end' });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  stopped = true;
  if (ticker !== undefined) clearInterval(ticker);
  await sleep(200);
  driver.close();
  return {
    received: recorder.received,
    seconds,
    msgsPerSec: recorder.received / seconds,
    p50Ms: recorder.percentile(50),
    p99Ms: recorder.percentile(99),
    errors: driver.errors(),
    loadCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ------------------------------------------------------------------- idle

const idle = { devices: [] as QuintetDevice[], conns: [] as QuintetConn[] };

async function idlePhase(
  command: Extract<LoadCommand, { cmd: 'idle' }>,
): Promise<{ conns: number }> {
  if (command.phase === 'register') {
    idle.devices = await makeDevices(command.prefix, command.conns);
    idle.conns = await inBatches(idle.devices, 200, (d) => register(command.url, d));
    return { conns: idle.conns.length };
  }
  if (command.phase === 'disconnect') {
    await Promise.all(
      idle.conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.ws.once('close', () => resolve());
            c.ws.close();
          }),
      ),
    );
    idle.conns = [];
    return { conns: 0 };
  }
  idle.conns = await inBatches(idle.devices, 200, (d) => authenticate(command.url, d));
  return { conns: idle.conns.length };
}

process.on('message', (command: LoadCommand) => {
  const work = command.cmd === 'run' ? run(command) : idlePhase(command);
  work.then(
    (result) => process.send?.({ ok: true, result }),
    (error: unknown) =>
      process.send?.({ ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
process.send?.({ ready: true });
