/**
 * `npm run bench:group [-- --quick] [-- --runs N]` — server fanout of one
 * group message (Sender Keys). Not a test.
 *
 * A 1024-member group with 5 devices per member (`--quick`: 64 members):
 * every device is an authenticated WebSocket held by child processes
 * (bench/group-devices.ts), the server is its own process with the SQLite
 * store (bench/server-process.ts), and this process is the sending device.
 * Accounts and devices are written straight into the database before the
 * server starts (registering and linking 5,120 devices over the wire would
 * measure linking, not groups).
 *
 * Rows (one JSON object each, per run):
 * - `group fanout`: one SendGroupMessage with one SenderKeyMessage-sized
 *   ciphertext for every other device: upload (request → response, i.e.
 *   committed to every device's durable queue), time until every device has
 *   it, and p50/p99 of per-device delivery (send → receipt).
 * - `group first send with distribution`: the same plus one pairwise
 *   distribution envelope per device (the size of a real one, measured) in
 *   the same request, queued before the ciphertext.
 * - `client distribution encrypt`: the real protocol's cost of encrypting a
 *   padded SenderKeyDistributionMessage pairwise, measured on 64 sessions and
 *   scaled to the group's device count.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { WebSocket } from 'ws';
import { nodeCrypto } from '../src/crypto/node.js';
import { createSenderKeyDistributionMessage, groupEncrypt } from '../src/protocol/group-cipher.js';
import { generateSigningKeyPair, sign } from '../src/protocol/curve.js';
import {
  GroupChange_Action,
  GroupChangeSchema,
  SignedGroupChangeSchema,
} from '../src/gen/quintet/v1/groups_pb.js';
import type { Response } from '../src/gen/quintet/v1/transport_pb.js';
import { databasePath } from '../src/server/server.js';
import { openSqliteStore } from '../src/server/store/sqlite/index.js';
import { authenticationPayload } from '../src/wire/auth.js';
import { decodeFrame, encodeFrame, requestFrame, type RequestBody } from '../src/wire/frame.js';
import type { DeviceCommand, DeviceReport } from './group-devices.js';
import { QuintetDevice, quintetContext } from './quintet.js';

const quick = process.argv.includes('--quick');
const runsArg = process.argv.indexOf('--runs');
const RUNS = quick ? 1 : Number(process.argv[runsArg + 1] ?? 3) || 3;
const MEMBERS = quick ? 64 : 1024;
const DEVICES_PER_MEMBER = 5;
const HOLDERS = 2;
const here = import.meta.dirname;
const now = (): number => performance.timeOrigin + performance.now();
const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);
const DOMAIN = new TextEncoder().encode('quintet-group-change-v1');

function account(i: number): string {
  return `g${String(i).padStart(4, '0')}`;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

class Holder {
  private waiters: Array<(m: DeviceReport) => void> = [];
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: DeviceReport) => this.waiters.shift()?.(m));
  }
  static start(): Holder {
    return new Holder(
      fork(join(here, 'group-devices.ts'), [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }
  ask(command: DeviceCommand): Promise<DeviceReport> {
    const answer = new Promise<DeviceReport>((resolve) => this.waiters.push(resolve));
    this.proc.send(command);
    return answer;
  }
  /** Resolves with the next report without sending anything. */
  next(): Promise<DeviceReport> {
    return new Promise<DeviceReport>((resolve) => this.waiters.push(resolve));
  }
}

/** The sending device's connection (minimal request/response client). */
class Sender {
  private nextId = 1n;
  private readonly waiting = new Map<bigint, (r: Response) => void>();
  private constructor(private readonly socket: WebSocket) {
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame.kind.case === 'response') {
        this.waiting.get(frame.kind.value.id)?.(frame.kind.value);
        this.waiting.delete(frame.kind.value.id);
      } else if (frame.kind.case === 'push' && frame.kind.value.kind.case === 'envelope') {
        const guid = frame.kind.value.kind.value.serverGuid;
        this.socket.send(
          encodeFrame(requestFrame(this.nextId++, { case: 'ack', value: { serverGuids: [guid] } })),
        );
      }
    });
  }
  static async open(url: string): Promise<Sender> {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return new Sender(socket);
  }
  request(body: RequestBody): Promise<Response> {
    const id = this.nextId++;
    const answer = new Promise<Response>((resolve) => this.waiting.set(id, resolve));
    this.socket.send(encodeFrame(requestFrame(id, body)));
    return answer;
  }
  close(): void {
    this.socket.terminate();
  }
}

function ok(response: Response, what: string): Response {
  if (response.error !== undefined) throw new Error(`${what}: ${response.error.code}`);
  return response;
}

/** Real protocol cost of one pairwise distribution, and the ciphertext sizes. */
async function measureClientCrypto(): Promise<{
  encryptUs: number;
  distributionBytes: number;
  messageBytes: number;
}> {
  const alice = await QuintetDevice.create('alice', 1);
  const peers = [];
  for (let i = 0; i < 64; i++) {
    const peer = await QuintetDevice.create(`p${i}`, 1);
    await alice.processBundle(peer.address, await peer.bundle());
    peers.push(peer);
  }
  const skdm = await createSenderKeyDistributionMessage(
    quintetContext,
    alice.senderKeys,
    alice.address,
    '2b0c4c4e-4b6a-4f3c-9d2e-5f1a7c3e9b10',
  );
  // Content framing + padding to a 160-byte block, as the client does.
  const plaintext = new Uint8Array(Math.ceil((skdm.length + 8) / 160) * 160);
  plaintext.set(skdm, 0);
  let size = 0;
  const start = performance.now();
  for (const peer of peers) size = (await alice.encrypt(peer.address, plaintext)).body.length;
  const encryptUs = ((performance.now() - start) * 1000) / peers.length;
  const message = await groupEncrypt(
    quintetContext,
    alice.senderKeys,
    alice.address,
    '2b0c4c4e-4b6a-4f3c-9d2e-5f1a7c3e9b10',
    new Uint8Array(160),
  );
  return { encryptUs, distributionBytes: size, messageBytes: message.length };
}

async function main(): Promise<void> {
  const crypto = await measureClientCrypto();
  const dataDir = mkdtempSync(join(tmpdir(), 'quintet-group-bench-'));
  const holders = Array.from({ length: HOLDERS }, () => Holder.start());
  const senderKeys = await generateSigningKeyPair(nodeCrypto, random);
  const all: Array<{ account: string; deviceId: number }> = [];
  for (let m = 0; m < MEMBERS; m++) {
    for (let d = 1; d <= DEVICES_PER_MEMBER; d++) {
      if (m === 0 && d === 1) continue; // the sender: this process
      all.push({ account: account(m), deviceId: d });
    }
  }
  const shares = holders.map((_, h) => all.filter((_, i) => i % HOLDERS === h));
  const reports = await Promise.all(
    holders.map((h, i) => h.ask({ cmd: 'keys', devices: shares[i] ?? [] })),
  );
  const keyOf = new Map<string, { identityKey: Uint8Array; registrationId: number }>();
  for (const r of reports) {
    if (r.type !== 'keys') throw new Error('unexpected report');
    for (const d of r.devices) {
      keyOf.set(`${d.account} ${d.deviceId}`, {
        identityKey: new Uint8Array(d.identityKey),
        registrationId: d.registrationId,
      });
    }
  }
  // Write accounts and devices straight into the database.
  const store = openSqliteStore({ path: databasePath(dataDir), checkpointIntervalMs: 0 });
  const senderRegistrationId = 4242;
  for (let m = 0; m < MEMBERS; m++) {
    for (let d = 1; d <= DEVICES_PER_MEMBER; d++) {
      const key =
        m === 0 && d === 1
          ? { identityKey: senderKeys.publicKey.serialize(), registrationId: senderRegistrationId }
          : keyOf.get(`${account(m)} ${d}`);
      if (key === undefined) throw new Error('missing key');
      const device = { ...key, name: 'bench', createdAt: Date.now() };
      if (d === 1) await store.accounts.createAccount(account(m), device);
      else await store.accounts.addDevice(account(m), device);
    }
  }
  await store.close();

  const server = fork(join(here, 'server-process.ts'), [dataDir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve) => {
    server.once('message', (m: { url: string }) => resolve(m.url));
  });
  const connectStart = now();
  await Promise.all(holders.map((h) => h.ask({ cmd: 'connect', url })));
  const connectMs = now() - connectStart;

  const sender = await Sender.open(url);
  const challenge = ok(await sender.request({ case: 'challenge', value: {} }), 'challenge');
  if (challenge.body.case !== 'challenge') throw new Error('no nonce');
  const nonce = challenge.body.value.nonce;
  ok(
    await sender.request({
      case: 'authenticate',
      value: {
        account: account(0),
        deviceId: 1,
        nonce,
        signature: await sign(
          nodeCrypto,
          senderKeys.privateKey,
          authenticationPayload(nonce, account(0), 1),
          random,
        ),
      },
    }),
    'authenticate',
  );
  const groupId = random(16);
  const change = toBinary(
    GroupChangeSchema,
    create(GroupChangeSchema, {
      groupId,
      version: 0,
      action: GroupChange_Action.CREATE,
      members: Array.from({ length: MEMBERS }, (_, m) => ({ account: account(m), admin: m === 0 })),
      name: 'bench',
      author: account(0),
      authorDevice: 1,
      timestamp: BigInt(Date.now()),
    }),
  );
  const payload = new Uint8Array(DOMAIN.length + 1 + change.length);
  payload.set(DOMAIN, 0);
  payload.set(change, DOMAIN.length + 1);
  const createStart = now();
  ok(
    await sender.request({
      case: 'createGroup',
      value: {
        change: create(SignedGroupChangeSchema, {
          change,
          authorIdentityKey: senderKeys.publicKey.serialize(),
          signature: await sign(nodeCrypto, senderKeys.privateKey, payload, random),
        }),
      },
    }),
    'createGroup',
  );
  const createMs = now() - createStart;
  const setup = {
    connections: all.length,
    connectMs: Math.round(connectMs),
    createGroupMs: round2(createMs),
  };

  const byAccount = new Map<string, Array<{ deviceId: number; registrationId: number }>>();
  for (const d of all) {
    const key = keyOf.get(`${d.account} ${d.deviceId}`);
    const list = byAccount.get(d.account) ?? [];
    list.push({ deviceId: d.deviceId, registrationId: key?.registrationId ?? 0 });
    byAccount.set(d.account, list);
  }
  const recipients = [...byAccount].map(([acc, list]) => ({
    account: acc,
    deviceIds: list.map((d) => d.deviceId),
    registrationIds: list.map((d) => d.registrationId),
  }));

  async function round(withDistribution: boolean): Promise<Record<string, unknown>> {
    for (const r of await Promise.all(
      holders.map((h) => h.ask({ cmd: 'expect', distributions: withDistribution })),
    )) {
      if (r.type !== 'armed') throw new Error('holder not armed');
    }
    const received = Promise.all(holders.map((h) => h.next()));
    const distributions = withDistribution
      ? [...byAccount].map(([acc, list]) => ({
          destination: acc,
          envelopes: list.map((d) => ({
            deviceId: d.deviceId,
            registrationId: d.registrationId,
            type: 1,
            content: random(crypto.distributionBytes),
          })),
        }))
      : [];
    const ciphertext = random(crypto.messageBytes);
    const request: RequestBody = {
      case: 'sendGroupMessage',
      value: { groupId, ciphertext, recipients, distributions, timestamp: BigInt(Date.now()) },
    };
    const frameBytes = encodeFrame(requestFrame(1n, request)).length;
    const t0 = now();
    ok(await sender.request(request), 'sendGroupMessage');
    const uploadMs = now() - t0;
    const times: number[] = [];
    let outOfOrder = 0;
    for (const r of await received) {
      if (r.type !== 'received') throw new Error('unexpected report');
      times.push(...r.times.map((t) => t - t0));
      outOfOrder += r.outOfOrder;
    }
    times.sort((a, b) => a - b);
    return {
      row: withDistribution ? 'group first send with distribution' : 'group fanout',
      members: MEMBERS,
      devices: times.length,
      requestBytes: frameBytes,
      ciphertextBytes: crypto.messageBytes,
      ...(withDistribution ? { distributionBytes: crypto.distributionBytes, outOfOrder } : {}),
      uploadMs: round2(uploadMs),
      allDeliveredMs: round2(times[times.length - 1] ?? Number.NaN),
      p50Ms: round2(quantile(times, 0.5)),
      p99Ms: round2(quantile(times, 0.99)),
    };
  }

  console.log(JSON.stringify({ row: 'setup', members: MEMBERS, ...setup }));
  for (let run = 1; run <= RUNS; run++) {
    console.log(JSON.stringify({ run, ...(await round(true)) }));
    console.log(JSON.stringify({ run, ...(await round(false)) }));
  }
  console.log(
    JSON.stringify({
      row: 'client distribution encrypt',
      encryptUsEach: round2(crypto.encryptUs),
      devices: all.length,
      totalMs: Math.round((crypto.encryptUs * all.length) / 1000),
      note: 'real pairwise encrypt of a padded SKDM on 64 fresh sessions (PreKey messages), scaled',
    }),
  );

  sender.close();
  await Promise.all(
    holders.map(
      (h) =>
        new Promise<void>((resolve) => {
          h.proc.once('exit', () => resolve());
          h.proc.send({ cmd: 'close' });
        }),
    ),
  );
  await new Promise<void>((resolve) => {
    server.once('exit', () => resolve());
    server.send({ type: 'close' });
  });
  rmSync(dataDir, { recursive: true, force: true });
}

await main();
