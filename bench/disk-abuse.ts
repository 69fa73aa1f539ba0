/**
 * `node --import tsx bench/disk-abuse.ts [--runs N] [--seconds S]` — how many
 * bytes one account can make the server store in 60 s, before and after the
 * disk limits. Not a test.
 *
 * Measured on the SQLite store itself (group commit, WAL, a temporary
 * directory), without the network: the network only slows an attacker.
 *
 * - `row overhead`: database bytes per queued envelope beyond its content
 *   (1-byte envelopes, 20,000 rows). `ROW_OVERHEAD_BYTES` in
 *   src/server/send-limits.ts must be at least this.
 * - `group fanout`: database bytes for one group send of a 256 KiB
 *   ciphertext to 1,024 member devices, stored per device (before) and once
 *   (after).
 * - `60 s`: before, nothing but the store's write rate bounded an account:
 *   one account's group sends of 256 KiB to 1,024 devices, written for S
 *   seconds (default 5) and scaled to 60 s. After: the per-account byte
 *   bucket (burst + 60 s of refill) bounds it, whatever the write rate.
 *
 * Prints one JSON line per row with the median and the spread (min–max) of
 * the runs.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '../src/server/config.js';
import { openSqliteStore, type SqliteServerStore } from '../src/server/store/sqlite/index.js';
import type { NewEnvelope } from '../src/server/store/types.js';
import { storedBytes } from '../src/server/send-limits.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = Number(process.argv[runsArg + 1] ?? 3) || 3;
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = Number(process.argv[secondsArg + 1] ?? 5) || 5;
const MEMBER_DEVICES = 1024;
const CIPHERTEXT = 256 * 1024;

function envelope(device: number, content: Uint8Array): NewEnvelope {
  return {
    destination: `member${device}`,
    destinationDevice: 1,
    source: 'mallory',
    sourceDevice: 1,
    type: 3,
    content,
    timestamp: 1,
    serverTimestamp: 1,
  };
}

/** Bytes the database takes on disk (main file and WAL). */
function diskBytes(path: string): number {
  let total = 0;
  for (const file of [path, `${path}-wal`]) {
    try {
      total += statSync(file).size;
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
    }
  }
  return total;
}

async function withStore<T>(
  body: (store: SqliteServerStore, path: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'quintet-disk-abuse-'));
  const path = join(dir, 'quintet.db');
  const store = openSqliteStore({ path, checkpointIntervalMs: 50 });
  try {
    return await body(store, path);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Logical database size: pages in use (excludes the WAL and free pages). */
async function settledBytes(path: string): Promise<number> {
  // Closing checkpoints the WAL into the main file; reopen to read its size.
  const store = openSqliteStore({ path, checkpointIntervalMs: 0 });
  await store.close();
  return diskBytes(path);
}

async function rowOverhead(): Promise<number> {
  const rows = 20_000;
  return withStore(async (store, path) => {
    await store.close();
    const empty = await settledBytes(path);
    const again = openSqliteStore({ path, checkpointIntervalMs: 0 });
    const one = new Uint8Array(1);
    for (let i = 0; i < rows; i += 500) {
      await again.queue.enqueue(
        Array.from({ length: 500 }, (_, j) => envelope(i + j, new Uint8Array(one))),
      );
    }
    await again.close();
    return ((await settledBytes(path)) - empty) / rows - 1;
  });
}

async function fanoutBytes(shared: boolean): Promise<number> {
  return withStore(async (store, path) => {
    await store.close();
    const empty = await settledBytes(path);
    const again = openSqliteStore({ path, checkpointIntervalMs: 0 });
    const content = new Uint8Array(CIPHERTEXT).fill(5);
    await again.queue.enqueue(
      Array.from({ length: MEMBER_DEVICES }, (_, i) =>
        envelope(i, shared ? content : new Uint8Array(content)),
      ),
    );
    await again.close();
    return (await settledBytes(path)) - empty;
  });
}

/** Content bytes one account gets stored per second, group sends stored per device (before). */
async function unlimitedRate(): Promise<number> {
  return withStore(async (store) => {
    const content = new Uint8Array(CIPHERTEXT).fill(5);
    const start = performance.now();
    let stored = 0;
    while (performance.now() - start < SECONDS * 1000) {
      // A distinct copy per device: how the store kept fanouts before.
      await store.queue.enqueue(
        Array.from({ length: 64 }, (_, i) => envelope(i, new Uint8Array(content))),
      );
      stored += 64 * CIPHERTEXT;
      // Acked at once so the disk does not fill during the measurement;
      // an attacker would not ack, which only makes its bytes stay.
      await store.queue.expire(2);
    }
    return stored / ((performance.now() - start) / 1000);
  });
}

function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

const MIB = 1024 * 1024;
const overhead: number[] = [];
const before: number[] = [];
const after: number[] = [];
const rates: number[] = [];
for (let run = 0; run < RUNS; run += 1) {
  overhead.push(await rowOverhead());
  before.push(await fanoutBytes(false));
  after.push(await fanoutBytes(true));
  rates.push(await unlimitedRate());
}
const print = (row: object): void => {
  process.stdout.write(`${JSON.stringify(row)}\n`);
};
print({ row: 'row overhead', bytesPerRow: summary(overhead), runs: RUNS });
print({
  row: 'group fanout',
  ciphertextBytes: CIPHERTEXT,
  devices: MEMBER_DEVICES,
  beforeMiB: summary(before.map((b) => b / MIB)),
  afterMiB: summary(after.map((b) => b / MIB)),
  chargedMiB: storedBytes(CIPHERTEXT, MEMBER_DEVICES) / MIB,
});
const limitBound = DEFAULT_LIMITS.sendBytesBurst + 60 * DEFAULT_LIMITS.sendBytesPerSecond;
print({
  row: '60 s',
  beforeGiB: summary(rates.map((r) => (r * 60) / (1024 * MIB))),
  afterMiB: limitBound / MIB,
  measuredSeconds: SECONDS,
});
