/**
 * `npm run bench:fanout` — the client-core cost of sending one 1:1 message
 * in a multi-device setting: a recipient with 5 devices plus the sender's 4
 * other devices, i.e. 9 encryptions and two `SendMessage` requests (one per
 * account; the own devices get the `DeviceSentMessage` copy). Not a test.
 *
 * Measured: Quintet's `Outbox.sendText` end to end in process — content
 * encoding and padding, the ADV-verified device view, 9 encryptions (and
 * session setups), the sent-message and message store writes, and the
 * serialized request frames — against an in-process transport that answers
 * from fixtures (bench/fanout-accounts.ts). No network, no server.
 *
 * The same fanout with @signalapp/libsignal-client in the same run: padding,
 * 9 `signalEncrypt` (and `processPreKeyBundle`) calls and the same two
 * request frames, so `ratio` (= libsignal µs / Quintet µs; above 1: Quintet
 * is faster) compares like with like. Rounds alternate which side runs
 * first; every figure is the median over rounds.
 *
 * Rows (one JSON object each):
 * - `fanout 9 devices, sessions established`
 * - `fanout 9 devices, session setup for all 9`
 * - `fanout 9 devices, cold (validate 2 device lists + setup)` — Quintet
 *   only: first contact, incl. ADV signature checks libsignal has no
 *   counterpart for.
 *
 * `--quick`: few iterations, for a smoke run.
 */
import type * as Signal from '@signalapp/libsignal-client';
import { create } from '@bufbuild/protobuf';
import { nodeCrypto } from '../src/crypto/node.js';
import { generateSigningKeyPair } from '../src/protocol/curve.js';
import { generateRegistrationId } from '../src/protocol/prekeys.js';
import { createDeviceStore, type DeviceStore } from '../src/client/core/store/device-store.js';
import { MemoryBackend } from '../src/client/core/store/memory-backend.js';
import { ServerApi } from '../src/client/core/server-api.js';
import { KeyedQueue } from '../src/client/core/keyed-queue.js';
import { DeviceDirectory } from '../src/client/core/devices/device-directory.js';
import { ownAccountKey } from '../src/client/core/devices/account-key.js';
import { SessionManager } from '../src/client/core/session-manager.js';
import { Outbox } from '../src/client/core/outbox.js';
import { pad } from '../src/client/core/padding.js';
import { EnvelopeType, SendMessageRequestSchema } from '../src/gen/quintet/v1/transport_pb.js';
import { encodeFrame, requestFrame } from '../src/wire/frame.js';
import { LibsignalDevice } from './libsignal-client.js';
import { quintetContext as ctx } from './quintet.js';
import { fixtureAccount, FixtureTransport } from './fanout-accounts.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 15;
const OPS = quick ? 10 : 60;
const DEVICES = 9;
const TEXT = 'see you at eight, the usual place? bring the charger please';

/** The Quintet sender: alice's primary, with in-memory stores. */
interface QuintetSender {
  readonly store: DeviceStore;
  readonly outbox: Outbox;
  readonly directory: DeviceDirectory;
}

async function quintetSender(): Promise<QuintetSender> {
  const store = createDeviceStore(new MemoryBackend());
  const identity = await generateSigningKeyPair(nodeCrypto, ctx.random);
  const registrationId = generateRegistrationId(ctx.random);
  await store.protocol.identity.setLocalIdentity(identity, registrationId);
  await store.account.put({
    account: 'alice',
    deviceId: 1,
    registrationId,
    serverUrl: 'bench://',
    createdAt: ctx.clock.now(),
    nextPreKeyId: 1,
    signedPreKeyId: 1,
  });
  const alice = await fixtureAccount(ctx, 'alice', 5, { identity, registrationId });
  const bob = await fixtureAccount(ctx, 'bob', 5);
  const api = new ServerApi(new FixtureTransport([alice, bob]));
  const self = { account: 'alice', deviceId: 1 };
  const emit = (): void => undefined;
  const directory = new DeviceDirectory(ctx, store, api, emit, {
    ...self,
    ownAccountKey: () => ownAccountKey(store),
  });
  const sessions = new SessionManager(ctx, store, api, new KeyedQueue(), directory, emit, self);
  const outbox = new Outbox(ctx, store, sessions, emit, self);
  return { store, outbox, directory };
}

async function resetSessions(sender: QuintetSender): Promise<void> {
  await sender.store.protocol.sessions.deleteAllSessions('bob');
  await sender.store.protocol.sessions.deleteAllSessions('alice');
}

/** The libsignal-client sender and its 9 peers with their bundles. */
interface LibsignalSender {
  sender: LibsignalDevice;
  readonly peers: Array<{ device: LibsignalDevice; bundle: Signal.PreKeyBundle }>;
}

async function libsignalSender(): Promise<LibsignalSender> {
  const sender = new LibsignalDevice('alice', 1, 1001);
  const peers: LibsignalSender['peers'] = [];
  for (let i = 1; i <= 5; i++) {
    const device = new LibsignalDevice('bob', i, 2000 + i);
    peers.push({ device, bundle: await device.bundle() });
  }
  for (let i = 2; i <= 5; i++) {
    const device = new LibsignalDevice('alice', i, 1000 + i);
    peers.push({ device, bundle: await device.bundle() });
  }
  return { sender, peers };
}

/** Pads, encrypts for all 9 peers and builds the two request frames. */
async function libsignalFanout(side: LibsignalSender, setup: boolean): Promise<number> {
  const padded = new Uint8Array(pad(new TextEncoder().encode(TEXT)));
  const perAccount = new Map<
    string,
    Array<{ deviceId: number; type: EnvelopeType; content: Uint8Array }>
  >();
  for (const peer of side.peers) {
    if (setup) await side.sender.processBundle(peer.device.address, peer.bundle);
    const message = await side.sender.encrypt(peer.device.address, padded);
    const name = peer.device.address.name();
    const list = perAccount.get(name) ?? [];
    list.push({
      deviceId: peer.device.address.deviceId(),
      type: message.prekey ? EnvelopeType.PREKEY : EnvelopeType.SIGNAL,
      content: message.body,
    });
    perAccount.set(name, list);
  }
  let bytes = 0;
  for (const [destination, envelopes] of perAccount) {
    const request = create(SendMessageRequestSchema, {
      destination,
      envelopes,
      timestamp: BigInt(Date.now()),
    });
    bytes += encodeFrame(requestFrame(1n, { case: 'sendMessage', value: request })).length;
  }
  return bytes;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Mean µs per op over `OPS` ops; `before` runs untimed before each op. */
async function timeOps(op: () => Promise<unknown>, before?: () => Promise<void>): Promise<number> {
  let total = 0;
  for (let i = 0; i < OPS; i++) {
    if (before !== undefined) await before();
    const start = performance.now();
    await op();
    total += performance.now() - start;
  }
  return (total / OPS) * 1000;
}

interface RowResult {
  readonly name: string;
  readonly quintet: number[];
  readonly libsignal: number[];
}

function report(row: RowResult): void {
  const q = median(row.quintet);
  const line: Record<string, unknown> = {
    name: row.name,
    devices: DEVICES,
    quintet_us: Math.round(q),
    quintet_us_per_device: Math.round((q / DEVICES) * 10) / 10,
  };
  if (row.libsignal.length > 0) {
    const l = median(row.libsignal);
    line['libsignal_client_us'] = Math.round(l);
    line['libsignal_client_us_per_device'] = Math.round((l / DEVICES) * 10) / 10;
    const ratios = row.quintet.map((value, i) => (row.libsignal[i] ?? 0) / value);
    line['ratio'] = Math.round(median(ratios) * 100) / 100;
  }
  line['target_met'] = q < 2000 || !row.name.includes('established');
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const quintet = await quintetSender();
  const libsignal = await libsignalSender();
  // Warm-up: sessions, caches, JIT.
  await quintet.outbox.sendText('bob', TEXT);
  await libsignalFanout(libsignal, true);

  const established: RowResult = {
    name: 'fanout 9 devices, sessions established',
    quintet: [],
    libsignal: [],
  };
  const setup: RowResult = {
    name: 'fanout 9 devices, session setup for all 9',
    quintet: [],
    libsignal: [],
  };
  const cold: RowResult = {
    name: 'fanout 9 devices, cold (validate 2 device lists + setup)',
    quintet: [],
    libsignal: [],
  };
  for (let round = 0; round <= ROUNDS; round++) {
    const quintetFirst = round % 2 === 0;
    const runQ = async (): Promise<[number, number, number]> => [
      await timeOps(() => quintet.outbox.sendText('bob', TEXT)),
      await timeOps(
        () => quintet.outbox.sendText('bob', TEXT),
        () => resetSessions(quintet),
      ),
      await timeOps(
        () => quintet.outbox.sendText('bob', TEXT),
        async () => {
          await resetSessions(quintet);
          quintet.directory.invalidate('bob');
          quintet.directory.invalidate('alice');
        },
      ),
    ];
    // A fresh sender per op for setup (processBundle archives the previous
    // state, so reusing one would grow the record), and one fresh sender
    // with sessions for the established row.
    const freshSender = async (): Promise<void> => {
      libsignal.sender = new LibsignalDevice('alice', 1, 1001);
    };
    const runL = async (): Promise<[number, number]> => {
      await freshSender();
      await libsignalFanout(libsignal, true);
      const steady = await timeOps(() => libsignalFanout(libsignal, false));
      return [steady, await timeOps(() => libsignalFanout(libsignal, true), freshSender)];
    };
    let q: [number, number, number];
    let l: [number, number];
    if (quintetFirst) {
      q = await runQ();
      l = await runL();
    } else {
      l = await runL();
      q = await runQ();
    }
    // Round 0 is a warm-up and not recorded.
    if (round === 0) continue;
    established.quintet.push(q[0]);
    setup.quintet.push(q[1]);
    cold.quintet.push(q[2]);
    established.libsignal.push(l[0]);
    setup.libsignal.push(l[1]);
    // Keep the sessions of the "established" row from piling up records.
    await resetSessions(quintet);
    await quintet.outbox.sendText('bob', TEXT);
  }
  report(established);
  report(setup);
  report(cold);
}

await main();
