/**
 * `npm run bench:challenges` — what one login challenge costs the server's
 * challenge table (issue a nonce, then consume it, as `challenge` +
 * `authenticate` do; the signature check is separate and constant), and
 * what dropping a closed connection's nonces costs, with 0 and with 60,000
 * other challenges outstanding — side by side, one JSON object per row.
 * 60,000 outstanding is 15,000 connections each holding its maximum of 4
 * unused challenges: what a flood of challenge requests builds up.
 *
 * Each figure is the median of `--runs N` (default 5) runs, with the spread
 * (min–max). `--impl FILE` measures another `ChallengeRegistry` module (say
 * an earlier version) instead of src/server/auth/challenges.ts.
 *
 * Not a test: it asserts nothing and is never timed in CI.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nodeCrypto } from '../src/crypto/node.js';
import type * as Challenges from '../src/server/auth/challenges.js';
import { pooledRandom } from '../src/server/random-pool.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = Number(process.argv[runsArg + 1] ?? 5) || 5;
const implArg = process.argv.indexOf('--impl');
const IMPL = implArg >= 0 ? process.argv[implArg + 1] : undefined;
const module = (await import(
  IMPL === undefined ? '../src/server/auth/challenges.js' : pathToFileURL(resolve(IMPL)).href
)) as typeof Challenges;

const PER_CONNECTION = 4;
/** Measure for about this long per run (and at most `MAX_OPS` operations). */
const RUN_MS = 500;
const MAX_OPS = 200_000;
const random = pooledRandom((n) => nodeCrypto.randomBytes(n));
const clock = { now: () => 1_700_000_000_000 };

/** A registry holding `outstanding` unused challenges of other connections. */
function filled(outstanding: number): Challenges.ChallengeRegistry {
  // The server-wide bound (when the module has one) well above the fill.
  const registry = new module.ChallengeRegistry(clock, random, PER_CONNECTION, 100_000);
  for (let i = 0; i < outstanding; i++) {
    registry.issue(1 + Math.floor(i / PER_CONNECTION));
  }
  return registry;
}

/** Nanoseconds per call of `op`, timed over a batch. */
function timeOps(op: (i: number) => void): number {
  const started = process.hrtime.bigint();
  let ops = 0;
  const deadline = Date.now() + RUN_MS;
  while (ops < MAX_OPS && (ops % 64 !== 0 || Date.now() < deadline)) {
    op(ops);
    ops++;
  }
  return Number(process.hrtime.bigint() - started) / ops;
}

function issueAndConsume(outstanding: number): number {
  const registry = filled(outstanding);
  return timeOps((i) => {
    const connectionId = 10_000_000 + i;
    const nonce = registry.issue(connectionId);
    if (nonce === undefined || !registry.consume(connectionId, nonce)) {
      throw new Error('challenge was not accepted');
    }
  });
}

function dropConnection(outstanding: number): number {
  const registry = filled(outstanding);
  return timeOps((i) => {
    const connectionId = 10_000_000 + i;
    registry.issue(connectionId);
    registry.dropConnection(connectionId);
  });
}

function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return {
    median: Math.round(median),
    min: Math.round(sorted[0] ?? Number.NaN),
    max: Math.round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

const rows: Record<string, unknown>[] = [];
for (const outstanding of [0, 60_000]) {
  const cost: number[] = [];
  const drop: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    cost.push(issueAndConsume(outstanding));
    drop.push(dropConnection(outstanding));
  }
  const row = {
    row: `challenge issue+consume, ${outstanding.toLocaleString('en')} outstanding`,
    impl: IMPL ?? 'src/server/auth/challenges.ts',
    outstanding,
    issueConsumeNs: summary(cost),
    issueDropConnectionNs: summary(drop),
    runs: RUNS,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const [zero, many] = rows as Array<{ issueConsumeNs: { median: number } }>;
if (zero !== undefined && many !== undefined) {
  console.log(
    JSON.stringify({
      row: 'challenge cost at 60,000 outstanding / at 0',
      ratio: Number((many.issueConsumeNs.median / zero.issueConsumeNs.median).toFixed(2)),
    }),
  );
}
