/**
 * `npm run bench:protocol` — Quintet's protocol core against
 * @signalapp/libsignal-client (Signal's Rust library via N-API), measured side
 * by side in one process. Not a test: it prints one JSON object per row,
 *
 *   {"name", "quintet_ops_s", "libsignal_client_ops_s", "ratio",
 *    "ratio_min", "ratio_q1", "ratio_q3", "rounds"}
 *
 * Each row runs many short rounds; a round times both implementations back
 * to back, alternating which goes first. `quintet_ops_s` and
 * `libsignal_client_ops_s` are the medians over rounds; `ratio` is the median
 * of the per-round ratios quintet / libsignal-client (above 1: Quintet is
 * faster), and `ratio_min` / `ratio_q1` / `ratio_q3` show their spread over
 * the `rounds` rounds. Pairing each ratio within one round keeps a load spike
 * from other processes on this shared machine from landing on one side only.
 * Setup work (making bundles, pre-encrypting the messages a decrypt row
 * consumes) is never timed.
 *
 * libsignal-client 0.103 only makes PQXDH + SPQR (version-4) sessions. The
 * first rows run Quintet's version-3 sessions (X3DH + Double Ratchet, what
 * Quintet speaks to a peer without a KEM prekey) against them; the "v4" rows
 * run Quintet's PQXDH + SPQR sessions, like for like (each fixture checks
 * that both sides' sessions are version 4, and libsignal's `hasCurrentState`,
 * which is false for a session without SPQR). The "KEM" rows time the KEMs
 * alone: Kyber1024 (PQXDH prekeys) and ML-KEM-768 (SPQR's epochs, in the
 * split form SPQR sends). libsignal-client's Node API exposes KEM key
 * generation only, so its encapsulate/decapsulate rows have no libsignal
 * figure (`null`); Quintet-only rows give `quintet_ops_s_q1`/`_q3` instead
 * of ratios. A first and a last line give the machine's load average.
 *
 * `--quick`: few iterations and rounds, for a smoke run in CI.
 * `--only=<text>`: only the rows whose name contains `<text>`.
 */
import { cpus, loadavg } from 'node:os';
import * as Signal from '@signalapp/libsignal-client';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { protocolAddress } from '../src/protocol/address.js';
import { encapsulate, generateKemKeyPair, KemKeyType } from '../src/protocol/pq/kem.js';
import {
  decapsulateSplit,
  encapsulate1,
  encapsulate2,
  generateSplitKeyPair,
} from '../src/protocol/pq/mlkem768-incremental.js';
import type { CiphertextMessage } from '../src/protocol/session-cipher.js';
import {
  createSenderKeyDistributionMessage,
  groupDecrypt,
  groupEncrypt,
  processSenderKeyDistributionMessage,
} from '../src/protocol/group-cipher.js';
import { LibsignalDevice } from './libsignal-client.js';
import { QuintetDevice, quintetContext } from './quintet.js';

const quick = process.argv.includes('--quick');
/** `--only=<text>`: run just the rows whose name contains the text (for profiling). */
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
/** Timed rounds per row (the figure is their median), after one warm-up round. */
const ROUNDS = quick ? 2 : 21;
/** Scales every row's operations per round. */
const SCALE = quick ? 0.05 : 0.4;

/** A message of typical chat size. */
const PLAINTEXT = new Uint8Array(160).fill(0x61);
const DISTRIBUTION_ID = '6b0e8a52-1c3d-4e7f-9a2b-3c4d5e6f7081';

/** One side of a row: `prepare` does untimed work and returns the timed batch. */
type Prepare = (ops: number) => Promise<() => Promise<void>>;

interface Row {
  readonly name: string;
  readonly ops: number;
  readonly quintet: Prepare;
  /** Undefined where libsignal-client's Node API has no such operation. */
  readonly libsignal: Prepare | undefined;
}

let nameCounter = 0;
/** Fresh peer names, so setup rows never grow one record. */
function freshName(prefix: string): string {
  nameCounter += 1;
  return `${prefix}-${nameCounter}`;
}

// ------------------------------------------------------------ Quintet pairs

async function quintetPair(): Promise<{ alice: QuintetDevice; bob: QuintetDevice }> {
  const alice = await QuintetDevice.create(freshName('alice'), 1);
  const bob = await QuintetDevice.create(freshName('bob'), 1);
  await alice.processBundle(bob.address, await bob.bundle());
  await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
  await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
  return { alice, bob };
}

async function libsignalPair(): Promise<{ alice: LibsignalDevice; bob: LibsignalDevice }> {
  const alice = new LibsignalDevice(freshName('alice'), 1, 1001);
  const bob = new LibsignalDevice(freshName('bob'), 1, 1002);
  await alice.processBundle(bob.address, await bob.bundle());
  await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
  await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
  return { alice, bob };
}

/** Version-4 (PQXDH + SPQR) pairs: the bundle carries a Kyber1024 prekey. */
async function quintetPairV4(): Promise<{ alice: QuintetDevice; bob: QuintetDevice }> {
  const alice = await QuintetDevice.create(freshName('alice'), 1);
  const bob = await QuintetDevice.create(freshName('bob'), 1);
  await alice.processBundle(bob.address, await bob.bundle({ kem: true }));
  await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
  await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
  await expectQuintetV4(alice, bob.address);
  await expectQuintetV4(bob, alice.address);
  return { alice, bob };
}

async function libsignalPairV4(): Promise<{ alice: LibsignalDevice; bob: LibsignalDevice }> {
  const pair = await libsignalPair();
  await expectLibsignalSpqr(pair.alice, pair.bob.address);
  await expectLibsignalSpqr(pair.bob, pair.alice.address);
  return pair;
}

/** A v4 row that silently measured a v3 session would be worthless: refuse to run it. */
async function expectQuintetV4(device: QuintetDevice, peer: ReturnType<typeof protocolAddress>) {
  const version = await device.sessionVersion(peer);
  if (version !== 4) throw new Error(`Quintet session is version ${String(version)}, not 4`);
}

async function expectLibsignalSpqr(device: LibsignalDevice, peer: Signal.ProtocolAddress) {
  if (!(await device.hasCurrentState(peer))) {
    throw new Error('libsignal-client session is not current (no SPQR state)');
  }
}

/** Builds a value once, on first use, and keeps it for every round. */
function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= make());
}

// ------------------------------------------------------------------- rows

function rows(): Row[] {
  const qSetup = lazy(async () => {
    const alice = await QuintetDevice.create('alice', 1);
    const bob = await QuintetDevice.create('bob', 1);
    return { alice, bundle: await bob.bundle() };
  });
  const lSetup = lazy(async () => {
    const alice = new LibsignalDevice('alice', 1, 1001);
    const bob = new LibsignalDevice('bob', 1, 1002);
    return { alice, bundle: await bob.bundle() };
  });
  const qEncrypt = lazy(quintetPair);
  const lEncrypt = lazy(libsignalPair);
  const qDecrypt = lazy(quintetPair);
  const lDecrypt = lazy(libsignalPair);
  const qTurn = lazy(quintetPair);
  const lTurn = lazy(libsignalPair);

  // Separate fixtures per row: a receiver that skipped the encrypt row's
  // messages would carry 2,000 skipped keys through every decrypt.
  const qSenderKeys = async () => {
    const alice = await QuintetDevice.create('alice', 1);
    const bob = await QuintetDevice.create('bob', 1);
    const skdm = await createSenderKeyDistributionMessage(
      quintetContext,
      alice.senderKeys,
      alice.address,
      DISTRIBUTION_ID,
    );
    await processSenderKeyDistributionMessage(quintetContext, bob.senderKeys, alice.address, skdm);
    return { alice, bob };
  };
  const lSenderKeys = async () => {
    const alice = new LibsignalDevice('alice', 1, 1001);
    const bob = new LibsignalDevice('bob', 1, 1002);
    const skdm = await Signal.SenderKeyDistributionMessage.create(
      alice.address,
      DISTRIBUTION_ID,
      alice.senderKeys,
    );
    await Signal.processSenderKeyDistributionMessage(
      alice.address,
      Signal.SenderKeyDistributionMessage.deserialize(skdm.serialize()),
      bob.senderKeys,
    );
    return { alice, bob };
  };
  const qSetupV4 = lazy(async () => {
    const alice = await QuintetDevice.create('alice', 1);
    const bob = await QuintetDevice.create('bob', 1);
    return { alice, bundle: await bob.bundle({ kem: true }) };
  });
  // The responder rows take many first messages on one bundle, so no
  // one-time EC prekey (it would be gone after the first) on either side.
  const qResponderV4 = lazy(async () => {
    const alice = await QuintetDevice.create('alice', 1);
    const bob = await QuintetDevice.create('bob', 1);
    return { alice, bob, bundle: await bob.bundle({ kem: true, oneTime: false }) };
  });
  const lResponderV4 = lazy(async () => {
    const alice = new LibsignalDevice('alice', 1, 1001);
    const bob = new LibsignalDevice('bob', 1, 1002);
    return { alice, bob, bundle: await bob.bundle({ oneTime: false }) };
  });
  const qEncryptV4 = lazy(quintetPairV4);
  const lEncryptV4 = lazy(libsignalPairV4);
  const qDecryptV4 = lazy(quintetPairV4);
  const lDecryptV4 = lazy(libsignalPairV4);
  const qTurnV4 = lazy(quintetPairV4);
  const lTurnV4 = lazy(libsignalPairV4);
  const random = quintetContext.random;

  const qSenderEncrypt = lazy(qSenderKeys);
  const lSenderEncrypt = lazy(lSenderKeys);
  const qSenderDecrypt = lazy(qSenderKeys);
  const lSenderDecrypt = lazy(lSenderKeys);

  return [
    {
      name: 'session setup (bundle -> first message)',
      ops: 200,
      quintet: async (ops) => {
        const { alice, bundle } = await qSetup();
        const peers = Array.from({ length: ops }, () => protocolAddress(freshName('bob'), 1));
        return async () => {
          for (const peer of peers) {
            await alice.processBundle(peer, bundle);
            await alice.encrypt(peer, PLAINTEXT);
          }
        };
      },
      libsignal: async (ops) => {
        const { alice, bundle } = await lSetup();
        const peers = Array.from({ length: ops }, () =>
          Signal.ProtocolAddress.new(freshName('bob'), 1),
        );
        return async () => {
          for (const peer of peers) {
            await alice.processBundle(peer, bundle);
            await alice.encrypt(peer, PLAINTEXT);
          }
        };
      },
    },
    {
      name: '1:1 encrypt',
      ops: 2000,
      quintet: async (ops) => {
        const { alice, bob } = await qEncrypt();
        return async () => {
          for (let i = 0; i < ops; i++) await alice.encrypt(bob.address, PLAINTEXT);
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lEncrypt();
        return async () => {
          for (let i = 0; i < ops; i++) await alice.encrypt(bob.address, PLAINTEXT);
        };
      },
    },
    {
      name: '1:1 decrypt',
      ops: 2000,
      quintet: async (ops) => {
        const { alice, bob } = await qDecrypt();
        const messages: CiphertextMessage[] = [];
        for (let i = 0; i < ops; i++) messages.push(await alice.encrypt(bob.address, PLAINTEXT));
        return async () => {
          for (const message of messages) await bob.decrypt(alice.address, message);
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lDecrypt();
        const messages: { prekey: boolean; body: Uint8Array<ArrayBuffer> }[] = [];
        for (let i = 0; i < ops; i++) messages.push(await alice.encrypt(bob.address, PLAINTEXT));
        return async () => {
          for (const message of messages) await bob.decrypt(alice.address, message);
        };
      },
    },
    {
      name: 'ping-pong ratchet turn (A->B, B->A)',
      ops: 400,
      quintet: async (ops) => {
        const { alice, bob } = await qTurn();
        return async () => {
          for (let i = 0; i < ops; i++) {
            await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
            await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
          }
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lTurn();
        return async () => {
          for (let i = 0; i < ops; i++) {
            await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
            await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
          }
        };
      },
    },
    {
      name: 'sender-key encrypt',
      ops: 2000,
      quintet: async (ops) => {
        const { alice } = await qSenderEncrypt();
        return async () => {
          for (let i = 0; i < ops; i++) {
            await groupEncrypt(
              quintetContext,
              alice.senderKeys,
              alice.address,
              DISTRIBUTION_ID,
              PLAINTEXT,
            );
          }
        };
      },
      libsignal: async (ops) => {
        const { alice } = await lSenderEncrypt();
        return async () => {
          for (let i = 0; i < ops; i++)
            await Signal.groupEncrypt(alice.address, DISTRIBUTION_ID, alice.senderKeys, PLAINTEXT);
        };
      },
    },
    {
      name: 'sender-key decrypt',
      ops: 2000,
      quintet: async (ops) => {
        const { alice, bob } = await qSenderDecrypt();
        const messages: Uint8Array[] = [];
        for (let i = 0; i < ops; i++) {
          messages.push(
            await groupEncrypt(
              quintetContext,
              alice.senderKeys,
              alice.address,
              DISTRIBUTION_ID,
              PLAINTEXT,
            ),
          );
        }
        return async () => {
          for (const message of messages)
            await groupDecrypt(quintetContext, bob.senderKeys, alice.address, message);
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lSenderDecrypt();
        const messages: Uint8Array<ArrayBuffer>[] = [];
        for (let i = 0; i < ops; i++) {
          messages.push(
            (
              await Signal.groupEncrypt(alice.address, DISTRIBUTION_ID, alice.senderKeys, PLAINTEXT)
            ).serialize(),
          );
        }
        return async () => {
          for (const message of messages)
            await Signal.groupDecrypt(alice.address, bob.senderKeys, message);
        };
      },
    },
    {
      name: 'v4 PQXDH session setup (bundle with Kyber prekey -> first message)',
      ops: 200,
      quintet: async (ops) => {
        const { alice, bundle } = await qSetupV4();
        const peers = Array.from({ length: ops }, () => protocolAddress(freshName('bob'), 1));
        return async () => {
          for (const peer of peers) {
            await alice.processBundle(peer, bundle);
            await alice.encrypt(peer, PLAINTEXT);
          }
        };
      },
      libsignal: async (ops) => {
        const { alice, bundle } = await lSetup();
        const peers = Array.from({ length: ops }, () =>
          Signal.ProtocolAddress.new(freshName('bob'), 1),
        );
        return async () => {
          for (const peer of peers) {
            await alice.processBundle(peer, bundle);
            await alice.encrypt(peer, PLAINTEXT);
          }
        };
      },
    },
    {
      name: 'v4 PQXDH session setup, responder (first prekey message)',
      ops: 200,
      quintet: async (ops) => {
        const { alice, bob, bundle } = await qResponderV4();
        const firsts: { from: ReturnType<typeof protocolAddress>; message: CiphertextMessage }[] =
          [];
        for (let i = 0; i < ops; i++) {
          await alice.processBundle(bob.address, bundle);
          // Each first message as if from its own device: one new record each.
          firsts.push({
            from: protocolAddress(freshName('alice'), 1),
            message: await alice.encrypt(bob.address, PLAINTEXT),
          });
        }
        return async () => {
          for (const { from, message } of firsts) await bob.decrypt(from, message);
        };
      },
      libsignal: async (ops) => {
        const { alice, bob, bundle } = await lResponderV4();
        const firsts: {
          from: Signal.ProtocolAddress;
          message: { prekey: boolean; body: Uint8Array<ArrayBuffer> };
        }[] = [];
        for (let i = 0; i < ops; i++) {
          await alice.processBundle(bob.address, bundle);
          firsts.push({
            from: Signal.ProtocolAddress.new(freshName('alice'), 1),
            message: await alice.encrypt(bob.address, PLAINTEXT),
          });
        }
        return async () => {
          for (const { from, message } of firsts) await bob.decrypt(from, message);
        };
      },
    },
    {
      name: 'v4 1:1 encrypt (SPQR session)',
      ops: 2000,
      quintet: async (ops) => {
        const { alice, bob } = await qEncryptV4();
        return async () => {
          for (let i = 0; i < ops; i++) await alice.encrypt(bob.address, PLAINTEXT);
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lEncryptV4();
        return async () => {
          for (let i = 0; i < ops; i++) await alice.encrypt(bob.address, PLAINTEXT);
        };
      },
    },
    {
      name: 'v4 1:1 decrypt (SPQR session)',
      ops: 2000,
      quintet: async (ops) => {
        const { alice, bob } = await qDecryptV4();
        const messages: CiphertextMessage[] = [];
        for (let i = 0; i < ops; i++) messages.push(await alice.encrypt(bob.address, PLAINTEXT));
        return async () => {
          for (const message of messages) await bob.decrypt(alice.address, message);
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lDecryptV4();
        const messages: { prekey: boolean; body: Uint8Array<ArrayBuffer> }[] = [];
        for (let i = 0; i < ops; i++) messages.push(await alice.encrypt(bob.address, PLAINTEXT));
        return async () => {
          for (const message of messages) await bob.decrypt(alice.address, message);
        };
      },
    },
    {
      name: 'v4 ping-pong triple-ratchet turn (A->B, B->A, SPQR)',
      ops: 400,
      quintet: async (ops) => {
        const { alice, bob } = await qTurnV4();
        return async () => {
          for (let i = 0; i < ops; i++) {
            await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
            await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
          }
        };
      },
      libsignal: async (ops) => {
        const { alice, bob } = await lTurnV4();
        return async () => {
          for (let i = 0; i < ops; i++) {
            await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT));
            await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT));
          }
        };
      },
    },
    {
      name: 'KEM Kyber1024 keygen (PQXDH prekey)',
      ops: 1000,
      quintet: async (ops) => async () => {
        for (let i = 0; i < ops; i++) generateKemKeyPair(random, KemKeyType.kyber1024);
      },
      libsignal: async (ops) => async () => {
        for (let i = 0; i < ops; i++) Signal.KEMKeyPair.generate();
      },
    },
    {
      name: 'KEM Kyber1024 encapsulate (PQXDH initiator)',
      ops: 1000,
      quintet: async (ops) => {
        const { publicKey } = generateKemKeyPair(random, KemKeyType.kyber1024);
        return async () => {
          for (let i = 0; i < ops; i++) encapsulate(publicKey, random);
        };
      },
      libsignal: undefined,
    },
    {
      name: 'KEM Kyber1024 decapsulate (PQXDH responder)',
      ops: 1000,
      quintet: async (ops) => {
        const { publicKey, secretKey } = generateKemKeyPair(random, KemKeyType.kyber1024);
        const ciphertexts = Array.from(
          { length: ops },
          () => encapsulate(publicKey, random).ciphertext,
        );
        return async () => {
          for (const ciphertext of ciphertexts) secretKey.decapsulate(ciphertext);
        };
      },
      libsignal: undefined,
    },
    {
      name: 'KEM ML-KEM-768 keygen (SPQR epoch, split form)',
      ops: 1000,
      quintet: async (ops) => async () => {
        for (let i = 0; i < ops; i++) generateSplitKeyPair(random);
      },
      libsignal: undefined,
    },
    {
      name: 'KEM ML-KEM-768 encapsulate (SPQR split form: ct1, then ct2)',
      ops: 1000,
      quintet: async (ops) => {
        const keys = generateSplitKeyPair(random);
        return async () => {
          for (let i = 0; i < ops; i++) {
            const first = encapsulate1(keys.header, random);
            encapsulate2(keys.ek, keys.header, first.state);
          }
        };
      },
      libsignal: undefined,
    },
    {
      name: 'KEM ML-KEM-768 encapsulate (noble, one piece; reference)',
      ops: 1000,
      quintet: async (ops) => {
        const keys = generateSplitKeyPair(random);
        const publicKey = new Uint8Array(keys.ek.length + 32);
        publicKey.set(keys.ek);
        publicKey.set(keys.header.subarray(0, 32), keys.ek.length);
        return async () => {
          for (let i = 0; i < ops; i++) ml_kem768.encapsulate(publicKey, random(32));
        };
      },
      libsignal: undefined,
    },
    {
      name: 'KEM ML-KEM-768 decapsulate (SPQR split form)',
      ops: 1000,
      quintet: async (ops) => {
        const keys = generateSplitKeyPair(random);
        const ciphertexts = Array.from({ length: ops }, () => {
          const first = encapsulate1(keys.header, random);
          return { ct1: first.ct1, ct2: encapsulate2(keys.ek, keys.header, first.state) };
        });
        return async () => {
          for (const { ct1, ct2 } of ciphertexts) decapsulateSplit(keys.dk, ct1, ct2);
        };
      },
      libsignal: undefined,
    },
  ];
}

// ------------------------------------------------------------------ driver

/** The q-quantile (0..1) with linear interpolation between neighbours. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const lowValue = sorted[low] ?? 0;
  const highValue = sorted[Math.min(low + 1, sorted.length - 1)] ?? lowValue;
  return lowValue + (highValue - lowValue) * (at - low);
}

function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/** Operations per second of one timed batch. */
async function measure(prepare: Prepare, ops: number): Promise<number> {
  const run = await prepare(ops);
  const start = performance.now();
  await run();
  const seconds = (performance.now() - start) / 1000;
  return ops / seconds;
}

const loadNow = (): number => Math.round((loadavg()[0] ?? 0) * 100) / 100;

async function main(): Promise<void> {
  console.log(
    JSON.stringify({ name: 'machine', cpus: cpus().length, loadavg_1m: loadNow(), quick }),
  );
  for (const row of rows()) {
    if (only !== undefined && !row.name.includes(only)) continue;
    const ops = Math.max(5, Math.round(row.ops * SCALE));
    const libsignalSide = row.libsignal;
    // Warm-up: JIT, key caches and lazily built fixtures, untimed.
    await measure(row.quintet, Math.max(5, Math.round(ops / 4)));
    if (libsignalSide !== undefined) await measure(libsignalSide, Math.max(5, Math.round(ops / 4)));
    const quintet: number[] = [];
    const libsignal: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (libsignalSide === undefined) {
        quintet.push(await measure(row.quintet, ops));
        continue;
      }
      // Alternate who goes first so drift in machine load cancels out.
      let q: number;
      let l: number;
      if (round % 2 === 0) {
        q = await measure(row.quintet, ops);
        l = await measure(libsignalSide, ops);
      } else {
        l = await measure(libsignalSide, ops);
        q = await measure(row.quintet, ops);
      }
      quintet.push(q);
      libsignal.push(l);
      ratios.push(q / l);
    }
    if (libsignalSide === undefined) {
      console.log(
        JSON.stringify({
          name: row.name,
          quintet_ops_s: Math.round(median(quintet)),
          libsignal_client_ops_s: null,
          ratio: null,
          quintet_ops_s_min: Math.round(quantile(quintet, 0)),
          quintet_ops_s_q1: Math.round(quantile(quintet, 0.25)),
          quintet_ops_s_q3: Math.round(quantile(quintet, 0.75)),
          rounds: ROUNDS,
        }),
      );
      continue;
    }
    console.log(
      JSON.stringify({
        name: row.name,
        quintet_ops_s: Math.round(median(quintet)),
        libsignal_client_ops_s: Math.round(median(libsignal)),
        ratio: round2(median(ratios)),
        ratio_min: round2(quantile(ratios, 0)),
        ratio_q1: round2(quantile(ratios, 0.25)),
        ratio_q3: round2(quantile(ratios, 0.75)),
        rounds: ROUNDS,
      }),
    );
  }
  console.log(JSON.stringify({ name: 'machine, after', loadavg_1m: loadNow() }));
}

await main();
