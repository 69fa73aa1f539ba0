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
 * `--quick`: few iterations and rounds, for a smoke run in CI.
 * `--only=<text>`: only the rows whose name contains `<text>`.
 */
import * as Signal from '@signalapp/libsignal-client';
import { protocolAddress } from '../src/protocol/address.js';
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
  readonly libsignal: Prepare;
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

async function main(): Promise<void> {
  for (const row of rows()) {
    if (only !== undefined && !row.name.includes(only)) continue;
    const ops = Math.max(5, Math.round(row.ops * SCALE));
    // Warm-up: JIT, key caches and lazily built fixtures, untimed.
    await measure(row.quintet, Math.max(5, Math.round(ops / 4)));
    await measure(row.libsignal, Math.max(5, Math.round(ops / 4)));
    const quintet: number[] = [];
    const libsignal: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate who goes first so drift in machine load cancels out.
      let q: number;
      let l: number;
      if (round % 2 === 0) {
        q = await measure(row.quintet, ops);
        l = await measure(row.libsignal, ops);
      } else {
        l = await measure(row.libsignal, ops);
        q = await measure(row.quintet, ops);
      }
      quintet.push(q);
      libsignal.push(l);
      ratios.push(q / l);
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
}

await main();
