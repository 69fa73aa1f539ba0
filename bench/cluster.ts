/**
 * `npm run bench:cluster [-- --quick] [-- --runs N]` (compiles the server to dist/ first)
 *
 * The cost of being a cluster, measured side by side in one run with the
 * load generator of `bench:server` (100 connections, ~300-byte envelopes,
 * 1 and 32 in flight per connection):
 *
 *   relay       a plain `ws` relay with no storage (bench/relay.ts)
 *   sqlite      the embedded single node (`npm start`)
 *   sqlite-full the same with `synchronous=FULL`: an fsync per commit, as
 *               PostgreSQL's default commit does (the `sqlite` row's
 *               `NORMAL` commit survives a crash of the process, not of
 *               the machine); its ratio row is information, not a target
 *   pg-1        one node on PostgreSQL + NATS
 *   pg-3        three nodes on one PostgreSQL + NATS; partners are always
 *               connected to different nodes, so every message goes through
 *               PostgreSQL and a NATS wake-up to the other node
 *
 * Each configuration runs RUNS times, interleaved (the machine's speed
 * drifts); rows give the median run, every run's figure, and server CPU µs
 * per delivered message for each node. A last row measures memory per idle
 * authenticated connection on a PostgreSQL + NATS node.
 *
 * Options: `--only pg-1,pg-3` (only these configurations; the memory row
 * only if `memory` is listed too, with `pg-1`),
 * `--inflight N`, `--profile DIR` (V8 CPU profiles of every node's
 * measurement windows in DIR/<node>), `--baseline DIR` (adds `pg-1@base`
 * and `pg-3@base`: the same clusters running DIR/dist, another build of
 * the server — e.g. `git archive` of an older commit, built there — so
 * two versions are compared side by side in one run, interleaved, with
 * `new/base` ratios; the machine's drift hits both alike).
 *
 * Needs the machine's PostgreSQL and NATS (QUINTET_BENCH_DATABASE_URL,
 * QUINTET_BENCH_BUS_URL override). Not a test: it asserts nothing.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { LoadResult } from './server-load.js';
import { Child, cpuMs, emit, load, median, memory, round, startTarget } from './children.js';
import type { CpuReport } from './children.js';
import { backendCpuBetween, backendCpuMs, sampleLockWaits } from './pg-cpu.js';

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

const quick = process.argv.includes('--quick');
const runsArg = process.argv.indexOf('--runs');
const RUNS = quick ? 1 : Number(process.argv[runsArg + 1] ?? 3) || 3;
const WARMUP_MS = quick ? 300 : 1000;
const DURATION_MS = quick ? 1000 : 4000;
const CONNS = 100;
const IDLE_CONNS = quick ? 500 : 5_000;
const DATABASE =
  process.env.QUINTET_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BUS = process.env.QUINTET_BENCH_BUS_URL ?? 'nats://127.0.0.1:4222';
// `--only pg-1,pg-3`: only these configurations (while iterating on one).
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;
const wanted = (name: Target['name']): boolean => ONLY === undefined || ONLY.has(name);
// `--inflight N`: only the closed-loop rows with N in flight.
const inflightArg = process.argv.indexOf('--inflight');
const INFLIGHTS = inflightArg >= 0 ? [Number(process.argv[inflightArg + 1])] : [1, 32];
// `--profile DIR`: every node writes a V8 CPU profile of each measurement
// window into DIR/<node> (window-N.cpuprofile, in run order).
const profileArg = process.argv.indexOf('--profile');
const PROFILE_DIR = profileArg >= 0 ? process.argv[profileArg + 1] : undefined;
// `--baseline DIR`: DIR/dist is the other version's compiled server.
const baselineArg = process.argv.indexOf('--baseline');
const BASELINE = baselineArg >= 0 ? process.argv[baselineArg + 1] : undefined;
const profileOf = (node: string): string | undefined =>
  PROFILE_DIR === undefined ? undefined : join(PROFILE_DIR, node);

/** A configuration under test: its processes and the URLs clients spread over. */
interface Target {
  readonly name: 'relay' | 'sqlite' | 'sqlite-full' | 'pg-1' | 'pg-3' | 'pg-1@base' | 'pg-3@base';
  readonly nodes: readonly Child[];
  readonly urls: readonly string[];
  /** The PostgreSQL schema of a cluster (its backends' CPU is measured). */
  readonly schema?: string;
}

interface Run extends LoadResult {
  /** Server CPU µs per delivered message, per node. */
  readonly cpuUsPerMsg: readonly number[];
  readonly cpuPct: readonly number[];
  /** read + write system calls per delivered message, per node (less noisy than CPU). */
  readonly syscallsPerMsg: readonly number[];
  /** Delivered messages per store commit, per node (the group commit's batch). */
  readonly msgsPerCommit: readonly number[];
  /** CPU µs of the cluster's PostgreSQL backends (all of them) per delivered message. */
  readonly pgCpuUsPerMsg: number;
  /** The cluster's backends waiting for a row or transaction lock, on average over the run. */
  readonly pgLockWaiters: number;
}

async function withSchema(admin: pg.Client, name: string): Promise<string> {
  await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  await admin.query(`CREATE SCHEMA "${name}"`);
  return name;
}

async function startCluster(
  name: 'pg-1' | 'pg-3' | 'pg-1@base' | 'pg-3@base',
  schema: string,
  n: number,
  dist?: string,
): Promise<Target> {
  const nodes: Child[] = [];
  const urls: string[] = [];
  // One at a time: the first migrates the schema, the others find it done.
  for (let i = 1; i <= n; i++) {
    const started = await startTarget(
      'cluster-node.ts',
      [DATABASE, schema, BUS, `${name}-${i}`, ...(dist === undefined ? [] : [dist])],
      profileOf(`${name}-${i}`),
    );
    nodes.push(started.child);
    urls.push(started.url);
  }
  return { name, nodes, urls, schema };
}

/** One load run against `target`, with every node's CPU time over the measurement window. */
async function measure(
  admin: pg.Client,
  loader: Child,
  target: Target,
  inflight: number,
): Promise<Run> {
  const marks: Array<Promise<CpuReport[]>> = [];
  const pgMarks: Array<Promise<Map<number, number>>> = [];
  const { schema } = target;
  loader.onWindow = () => {
    marks.push(Promise.all(target.nodes.map((node) => cpuMs(node))));
    if (schema !== undefined) pgMarks.push(backendCpuMs(admin, schema));
  };
  const waits = schema === undefined ? undefined : sampleLockWaits(admin, schema);
  const result = await load(loader, {
    mode: target.name === 'relay' ? 'relay' : 'quintet',
    url: target.urls.join(','),
    conns: CONNS,
    inflight,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
  });
  loader.onWindow = () => undefined;
  const pgLockWaiters = (await waits?.stop()) ?? Number.NaN;
  const [start, end] = await Promise.all(marks);
  if (start === undefined || end === undefined) throw new Error('no measurement window');
  const [pgStart, pgEnd] = await Promise.all(pgMarks);
  const pgCpu =
    pgStart === undefined || pgEnd === undefined ? Number.NaN : backendCpuBetween(pgStart, pgEnd);
  const cpu = end.map((report, i) => report.cpuMs - (start[i]?.cpuMs ?? Number.NaN));
  const per = (n: number): number => round(n / Math.max(1, result.received), 2);
  return {
    ...result,
    syscallsPerMsg: end.map((report, i) =>
      per(
        report.readCalls +
          report.writeCalls -
          (start[i]?.readCalls ?? Number.NaN) -
          (start[i]?.writeCalls ?? Number.NaN),
      ),
    ),
    msgsPerCommit: end.map((report, i) =>
      round(result.received / Math.max(1, (report.commits ?? 0) - (start[i]?.commits ?? 0)), 1),
    ),
    cpuUsPerMsg: cpu.map((ms) => round((ms * 1000) / Math.max(1, result.received), 1)),
    pgCpuUsPerMsg: round((pgCpu * 1000) / Math.max(1, result.received), 1),
    pgLockWaiters,
    cpuPct: cpu.map((ms) => round((100 * ms) / (result.seconds * 1000), 0)),
  };
}

const TARGETS_OF_RATIO = {
  'sqlite/relay': 'ratio >= 0.7',
  'pg-1/sqlite': 'ratio >= 0.5',
  // Information, not a target: both sides fsync every commit.
  'pg-1/sqlite-full': 'like-for-like durability (information)',
  'pg-3/pg-1': 'ratio >= 0.9',
  'pg-3@base/pg-1@base': 'ratio >= 0.9',
  'pg-1/pg-1@base': 'this build over the baseline',
  'pg-3/pg-3@base': 'this build over the baseline',
} as const;

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: DATABASE });
  await admin.connect();
  const schemas = [
    `bench_pg1_${process.pid}`,
    `bench_pg3_${process.pid}`,
    `bench_pg1b_${process.pid}`,
    `bench_pg3b_${process.pid}`,
  ];
  const dataDir = mkdtempSync(join(tmpdir(), 'quintet-bench-cluster-'));
  const targets: Target[] = [];
  const { child: loader } = await Child.start('server-load.ts', [], false);
  try {
    if (wanted('relay')) {
      const relay = await startTarget('relay.ts', [], profileOf('relay'));
      targets.push({ name: 'relay', nodes: [relay.child], urls: [relay.url] });
    }
    if (wanted('sqlite')) {
      const sqlite = await startTarget('server-process.ts', [dataDir], profileOf('sqlite'));
      targets.push({ name: 'sqlite', nodes: [sqlite.child], urls: [sqlite.url] });
    }
    if (wanted('sqlite-full')) {
      const dir = join(dataDir, 'full');
      mkdirSync(dir);
      const full = await startTarget('server-process.ts', [dir, 'full'], profileOf('sqlite-full'));
      targets.push({ name: 'sqlite-full', nodes: [full.child], urls: [full.url] });
    }
    if (wanted('pg-1'))
      targets.push(await startCluster('pg-1', await withSchema(admin, schemas[0] ?? ''), 1));
    if (wanted('pg-3'))
      targets.push(await startCluster('pg-3', await withSchema(admin, schemas[1] ?? ''), 3));
    if (BASELINE !== undefined) {
      const dist = join(BASELINE, 'dist');
      if (wanted('pg-1'))
        targets.push(
          await startCluster('pg-1@base', await withSchema(admin, schemas[2] ?? ''), 1, dist),
        );
      if (wanted('pg-3'))
        targets.push(
          await startCluster('pg-3@base', await withSchema(admin, schemas[3] ?? ''), 3, dist),
        );
    }

    for (const inflight of INFLIGHTS) {
      const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
      for (let r = 0; r < RUNS; r++) {
        for (const target of targets)
          runs.get(target.name)?.push(await measure(admin, loader, target, inflight));
      }
      const medians = new Map<string, Run>();
      for (const target of targets) {
        const all = runs.get(target.name) ?? [];
        const m = median(all, (x) => x.msgsPerSec);
        medians.set(target.name, m);
        emit({
          row: `${target.name}: ${CONNS} connections x ${inflight} in flight`,
          nodes: target.nodes.length,
          runs: RUNS,
          msgsPerSec: round(m.msgsPerSec, 0),
          p50Ms: round(m.p50Ms),
          p99Ms: round(m.p99Ms),
          errors: m.errors,
          serverCpuUsPerMsgPerNode: m.cpuUsPerMsg,
          // Medians over the runs (not the median run's): steadier than throughput.
          serverCpuUsPerMsgMedian: round(
            sum(median(all, (x) => sum(x.cpuUsPerMsg)).cpuUsPerMsg),
            1,
          ),
          pgCpuUsPerMsgMedian: round(median(all, (x) => x.pgCpuUsPerMsg).pgCpuUsPerMsg, 1),
          // Contention between nodes, independent of the machine's speed.
          pgLockWaitersMedian: round(median(all, (x) => x.pgLockWaiters).pgLockWaiters, 2),
          serverCpuPctPerNode: m.cpuPct,
          syscallsPerMsgPerNode: m.syscallsPerMsg,
          msgsPerCommitPerNode: m.msgsPerCommit,
          allRunsMsgsPerSec: all.map((x) => round(x.msgsPerSec, 0)),
          spreadPct: round(
            (100 *
              (Math.max(...all.map((x) => x.msgsPerSec)) -
                Math.min(...all.map((x) => x.msgsPerSec)))) /
              Math.max(1, m.msgsPerSec),
            0,
          ),
        });
      }
      for (const [pair, target] of Object.entries(TARGETS_OF_RATIO)) {
        const [top, bottom] = pair.split('/');
        const a = medians.get(top ?? '');
        const b = medians.get(bottom ?? '');
        if (a === undefined || b === undefined) continue;
        // Paired: each run over the other configuration's run of the same round.
        const aRuns = runs.get(top ?? '') ?? [];
        const bRuns = runs.get(bottom ?? '') ?? [];
        emit({
          row: `${pair} at ${inflight} in flight`,
          ratio: round(a.msgsPerSec / b.msgsPerSec),
          pairedRatioMedian: round(
            median(
              aRuns.map((x, i) => x.msgsPerSec / (bRuns[i]?.msgsPerSec ?? Number.NaN)),
              (x) => x,
            ),
          ),
          target,
        });
      }
    }

    // Memory per idle authenticated connection on a PostgreSQL + NATS node
    // (each connected device also holds a NATS subscription there).
    const node =
      ONLY === undefined || ONLY.has('memory') ? targets.find((t) => t.name === 'pg-1') : undefined;
    const nodeChild = node?.nodes[0];
    const nodeUrl = node?.urls[0];
    if (nodeChild !== undefined && nodeUrl !== undefined) {
      const idle = async (phase: 'register' | 'connect' | 'disconnect'): Promise<void> => {
        const answer = (await loader.ask({
          cmd: 'idle',
          url: nodeUrl,
          conns: IDLE_CONNS,
          prefix: 'cidle',
          phase,
        })) as { ok: boolean; error?: string };
        if (!answer.ok) throw new Error(`idle ${phase} failed: ${answer.error}`);
      };
      await idle('register');
      await idle('disconnect');
      // One connect/disconnect cycle first: what the first logins leave in
      // caches (accounts, device lists, pools) is then in the baseline too,
      // and an eviction between the two readings cannot hide connections.
      await idle('connect');
      await idle('disconnect');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const baseline = await memory(nodeChild);
      await idle('connect');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const loaded = await memory(nodeChild);
      await idle('disconnect');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await memory(nodeChild);
      const heap = (m: typeof baseline): number => m.heapUsed + m.external;
      const perConn = (bytes: number): number => round(bytes / IDLE_CONNS / 1024, 1);
      emit({
        row: `pg-1: ${IDLE_CONNS} idle authenticated connections`,
        rssPerConnKiB: perConn(loaded.rss - baseline.rss),
        heapPerConnKiB: perConn(heap(loaded) - heap(baseline)),
        // Cross-check: what closing them gave back to the heap half a second
        // later (below zero when the closes themselves still hold work, such
        // as the device-list notices each disconnect sends).
        heapFreedPerConnKiB: perConn(heap(loaded) - heap(after)),
        baselineRssMiB: round(baseline.rss / 1048576, 1),
        loadedRssMiB: round(loaded.rss / 1048576, 1),
        target: '<= 16 KiB per connection',
      });
    }
  } finally {
    loader.process.kill();
    for (const target of targets) for (const node of target.nodes) await node.stop();
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
