/**
 * `npm run bench:pq` — what post-quantum sessions cost against classical
 * ones, both Quintet, side by side in one run: version-4 (PQXDH + SPQR
 * triple ratchet) next to version-3 (X3DH + Double Ratchet). Not a test:
 * one JSON object per line.
 *
 * Timed rows ({"name", "v3_ops_s", "v4_ops_s", "v4_over_v3", "v4_over_v3_min",
 * "v4_over_v3_max", "rounds"}): medians over rounds, each round timing both
 * versions back to back, alternating which goes first, so a load spike from
 * other processes on the shared machine lands on both; the ratio is the
 * median of the per-round ratios (below 1: v4 is slower).
 *   - setup, initiator: `processPreKeyBundle` (signature checks, X3DH or
 *     PQXDH with the KEM encapsulation), a fresh peer each time;
 *   - setup, responder: decrypting the first prekey message (X3DH or PQXDH
 *     with the KEM decapsulation, then the first message);
 *   - encrypt + decrypt per message on an established session, in a
 *     ping-pong (every message starts a new DH epoch, SPQR chunks ride along).
 * Size rows ({"name", "v3_bytes", "v4_bytes"}): bytes on the wire of the
 * first prekey message and of steady-state messages, and the stored session
 * record of both sides after the ping-pong. A first line gives the machine's
 * load average. Untimed: making bundles, KEM prekeys and prekey messages.
 *
 * `--quick`: few operations and rounds, for a smoke run.
 */
import { loadavg, cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { protocolAddress, type ProtocolAddress } from '../src/protocol/address.js';
import { generateKyberPreKey } from '../src/protocol/pq/kyber-prekey-record.js';
import { generateSignedPreKey } from '../src/protocol/prekeys.js';
import type { PreKeyBundle } from '../src/protocol/session-builder.js';
import type { CiphertextMessage } from '../src/protocol/session-cipher.js';
import { QuintetDevice, quintetContext } from './quintet.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 9;
const SETUP_OPS = quick ? 4 : 30;
const MESSAGE_OPS = quick ? 20 : 400;
const PLAINTEXT = new Uint8Array(160).fill(0x61);

type Version = 3 | 4;

let counter = 0;
function fresh(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * A reusable bundle of `device`: the signed prekey and, for v4, a signed
 * last-resort KEM prekey (reusable with fresh base keys), no one-time EC
 * prekey, so one bundle serves every operation of a row.
 */
async function reusableBundle(device: QuintetDevice, version: Version): Promise<PreKeyBundle> {
  const identity = await device.stores.identity.getIdentityKeyPair();
  const signed = await generateSignedPreKey(quintetContext, identity, 1);
  await device.stores.signedPreKeys.storeSignedPreKey(signed.id, signed);
  const base: PreKeyBundle = {
    registrationId: await device.stores.identity.getLocalRegistrationId(),
    deviceId: device.address.deviceId,
    signedPreKeyId: signed.id,
    signedPreKey: signed.keyPair.publicKey,
    signedPreKeySignature: signed.signature,
    identityKey: identity.publicKey,
  };
  if (version === 3) return base;
  const kyber = await generateKyberPreKey(quintetContext, identity, 1);
  await device.stores.kyberPreKeys.storeLastResortKyberPreKey(1, kyber);
  return {
    ...base,
    kyberPreKeyId: 1,
    kyberPreKey: kyber.keyPair.publicKey,
    kyberPreKeySignature: kyber.signature,
  };
}

/** One side of a timed row: untimed preparation, then the timed batch. */
type Prepare = (version: Version, ops: number) => Promise<() => Promise<void>>;

const setupInitiator: Prepare = async (version, ops) => {
  const alice = await QuintetDevice.create(fresh('alice'), 1);
  const bob = await QuintetDevice.create(fresh('bob'), 1);
  const bundle = await reusableBundle(bob, version);
  return async () => {
    for (let i = 0; i < ops; i++) {
      await alice.processBundle(protocolAddress(fresh('bob'), 1), bundle);
    }
  };
};

const setupResponder: Prepare = async (version, ops) => {
  const alice = await QuintetDevice.create(fresh('alice'), 1);
  const bob = await QuintetDevice.create(fresh('bob'), 1);
  const bundle = await reusableBundle(bob, version);
  const firsts: Array<{ from: ProtocolAddress; message: CiphertextMessage }> = [];
  for (let i = 0; i < ops; i++) {
    await alice.processBundle(bob.address, bundle);
    // Each first message as if from its own device (one record each on bob's side).
    firsts.push({
      from: protocolAddress(fresh('alice'), 1),
      message: await alice.encrypt(bob.address, PLAINTEXT),
    });
  }
  return async () => {
    for (const { from, message } of firsts) await bob.decrypt(from, message);
  };
};

async function pair(version: Version): Promise<{ alice: QuintetDevice; bob: QuintetDevice }> {
  const alice = await QuintetDevice.create(fresh('alice'), 1);
  const bob = await QuintetDevice.create(fresh('bob'), 1);
  await alice.processBundle(bob.address, await reusableBundle(bob, version));
  await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
  await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
  return { alice, bob };
}

const pingPong: Prepare = async (version, ops) => {
  const { alice, bob } = await pair(version);
  return async () => {
    for (let i = 0; i < ops; i++) {
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      await to.decrypt(from.address, await from.encrypt(to.address, PLAINTEXT));
    }
  };
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function timed(prepare: Prepare, version: Version, ops: number): Promise<number> {
  const run = await prepare(version, ops);
  const start = performance.now();
  await run();
  return ops / ((performance.now() - start) / 1000);
}

async function timedRow(name: string, prepare: Prepare, ops: number): Promise<void> {
  await timed(prepare, 3, ops);
  await timed(prepare, 4, ops);
  const v3: number[] = [];
  const v4: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let a: number;
    let b: number;
    if (round % 2 === 0) {
      a = await timed(prepare, 3, ops);
      b = await timed(prepare, 4, ops);
    } else {
      b = await timed(prepare, 4, ops);
      a = await timed(prepare, 3, ops);
    }
    v3.push(a);
    v4.push(b);
    ratios.push(b / a);
  }
  const round2 = (x: number) => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      name,
      v3_ops_s: Math.round(median(v3)),
      v4_ops_s: Math.round(median(v4)),
      v4_over_v3: round2(median(ratios)),
      v4_over_v3_min: round2(Math.min(...ratios)),
      v4_over_v3_max: round2(Math.max(...ratios)),
      rounds: ROUNDS,
    }),
  );
}

/** Wire and storage sizes over a 200-message ping-pong. */
async function sizes(version: Version): Promise<Record<string, number>> {
  const alice = await QuintetDevice.create(fresh('alice'), 1);
  const bob = await QuintetDevice.create(fresh('bob'), 1);
  await alice.processBundle(bob.address, await reusableBundle(bob, version));
  const first = await alice.encrypt(bob.address, PLAINTEXT);
  await bob.decrypt(alice.address, first);
  let total = 0;
  let count = 0;
  for (let i = 0; i < 200; i++) {
    const [from, to] = i % 2 === 0 ? [bob, alice] : [alice, bob];
    const message = await from.encrypt(to.address, PLAINTEXT);
    total += message.body.length;
    count += 1;
    await to.decrypt(from.address, message);
  }
  const stored = async (device: QuintetDevice, peer: ProtocolAddress) =>
    (await device.stores.sessions.loadSession(peer))?.serialize().length ?? 0;
  return {
    first: first.body.length,
    perMessage: Math.round(total / count),
    aliceRecord: await stored(alice, bob.address),
    bobRecord: await stored(bob, alice.address),
  };
}

async function main(): Promise<void> {
  console.log(
    JSON.stringify({
      name: 'machine',
      cpus: cpus().length,
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      quick,
    }),
  );
  await timedRow('setup, initiator (processPreKeyBundle)', setupInitiator, SETUP_OPS);
  await timedRow('setup, responder (first prekey message)', setupResponder, SETUP_OPS);
  await timedRow('encrypt + decrypt per message (ping-pong)', pingPong, MESSAGE_OPS);
  const [v3, v4] = [await sizes(3), await sizes(4)];
  const row = (name: string, key: string) =>
    console.log(JSON.stringify({ name, v3_bytes: v3[key], v4_bytes: v4[key] }));
  row('first prekey message on the wire (160-byte plaintext)', 'first');
  row('message on the wire, ping-pong mean (160-byte plaintext)', 'perMessage');
  row('stored session record, initiator, after 200 messages', 'aliceRecord');
  row('stored session record, responder, after 200 messages', 'bobRecord');
  console.log(
    JSON.stringify({
      name: 'machine, after',
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    }),
  );
}

await main();
