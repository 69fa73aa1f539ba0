/**
 * `npm run bench:server [-- FLAGS]` (compiles the server to dist/ first)
 *
 * Many devices exchange ~300-byte envelopes through the Quintet server
 * (durable SQLite queues with group commit, acks) and, in the same run,
 * through a plain `ws` relay with no storage that makes the same WebSocket
 * round trips (send → response, push → ack → response; see bench/relay.ts).
 * The server, the relay and the load generator are separate processes; on
 * a two-core machine the load generator and the server share the cores.
 * Prints one JSON object per row (the median run of each):
 *
 *   1. 100 connections × 1 message in flight each
 *   2. 100 connections × 32 in flight
 *   3. p99 latency at half the peak rate (open loop)
 *   4. 10,000 idle authenticated connections: server memory per connection
 *
 * Alongside: server CPU per message, its system calls per message
 * (/proc/self/io) and messages per store commit — what explains a ratio.
 *
 * Flags: `--quick` (smoke run), `--runs N`, `--inflight N` (one closed-loop
 * row), `--rate N` (only the latency row, at N msgs/s), `--profile DIR`
 * (V8 CPU profiles of each measurement window), `--against DIR` (baseline:
 * another checkout's server instead of the relay).
 *
 * Not a test: it asserts nothing and is never timed in CI.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LoadResult } from './server-load.js';
import {
  cpuMs,
  emit,
  load,
  median,
  memory,
  round,
  startTarget,
  Child,
  type CpuReport,
} from './children.js';

const quick = process.argv.includes('--quick');
const runsArg = process.argv.indexOf('--runs');
const RUNS = quick ? 1 : Number(process.argv[runsArg + 1] ?? 3) || 3;
const WARMUP_MS = quick ? 300 : 1000;
const DURATION_MS = quick ? 1000 : 4000;
const CONNS = 100;
const IDLE_CONNS = quick ? 500 : 10_000;
// `--profile DIR`: the server and the relay write a V8 CPU profile of each
// measurement window into DIR/server and DIR/relay.
const profileArg = process.argv.indexOf('--profile');
const PROFILE_DIR = profileArg >= 0 ? process.argv[profileArg + 1] : undefined;
// `--against DIR`: the baseline is the Quintet server of another checkout
// (say a git worktree of the previous commit) instead of the relay, so the
// ratio compares two versions of the server under the same load.
const againstArg = process.argv.indexOf('--against');
const AGAINST = againstArg >= 0 ? process.argv[againstArg + 1] : undefined;
const BASE_MODE = AGAINST === undefined ? 'relay' : 'quintet';
// `--rate N`: only the open-loop latency row, at N messages per second.
const rateArg = process.argv.indexOf('--rate');
const ONLY_RATE = rateArg >= 0 ? Number(process.argv[rateArg + 1]) : undefined;
// `--inflight N`: only the closed-loop row with N in flight (while iterating).
const inflightArg = process.argv.indexOf('--inflight');
const ONLY_INFLIGHT = inflightArg >= 0 ? Number(process.argv[inflightArg + 1]) : undefined;

/**
 * What each side does per delivered message (both: 2 WebSocket messages in,
 * 3 out at the server). Quintet: SendMessageRequest in → envelope committed
 * to SQLite (group commit) → SendMessageResponse out + Push.envelope out to
 * the recipient; the recipient's AckRequest in (one per turn, batching the
 * turn's pushes) → AckResponse out, delete group-committed. Relay (no
 * storage, no protobuf): SEND in → PUSH out + RESP out; ACK in → RESP out.
 */
const WS_MESSAGES = 'server: in send+ack, out response+push+ack-response (both sides)';
const LATENCY = "one way: sender's send -> recipient's receipt of the push";

type Measured = LoadResult & {
  serverCpuPct: number;
  serverCpuUsPerMsg: number;
  /** The kernel's share of the server's CPU time (sockets, WAL writes). */
  serverSystemPct: number;
  /** Write system calls (socket writev + WAL pwrite) per delivered message. */
  serverWritesPerMsg: number;
  /** Read system calls per delivered message. */
  serverReadsPerMsg: number;
  /** Delivered messages per store commit (the relay has none). */
  msgsPerCommit: number | undefined;
};

/** Runs a load and reads the target's CPU time over the load's measurement window only. */
async function measured(
  loader: Child,
  target: Child,
  run: () => Promise<LoadResult>,
): Promise<Measured> {
  const marks: Array<Promise<CpuReport>> = [];
  loader.onWindow = () => marks.push(cpuMs(target));
  const result = await run();
  loader.onWindow = () => undefined;
  const [start, end] = await Promise.all(marks);
  if (start === undefined || end === undefined) throw new Error('no measurement window');
  const cpu = end.cpuMs - start.cpuMs;
  return {
    ...result,
    serverCpuPct: round((100 * cpu) / (result.seconds * 1000), 0),
    serverCpuUsPerMsg: round((cpu * 1000) / Math.max(1, result.received), 1),
    serverSystemPct: round((100 * (end.systemMs - start.systemMs)) / Math.max(1, cpu), 0),
    serverWritesPerMsg: round((end.writeCalls - start.writeCalls) / Math.max(1, result.received)),
    serverReadsPerMsg: round((end.readCalls - start.readCalls) / Math.max(1, result.received)),
    msgsPerCommit:
      end.commits === undefined || start.commits === undefined
        ? undefined
        : round(result.received / Math.max(1, end.commits - start.commits), 1),
  };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'quintet-bench-'));
  const server = await startTarget(
    'server-process.ts',
    [dataDir],
    PROFILE_DIR === undefined ? undefined : join(PROFILE_DIR, 'server'),
  );
  const baseDataDir = mkdtempSync(join(tmpdir(), 'quintet-bench-base-'));
  const relay = await startTarget(
    AGAINST === undefined ? 'relay.ts' : resolve(AGAINST, 'bench/server-process.ts'),
    AGAINST === undefined ? [] : [baseDataDir],
    PROFILE_DIR === undefined ? undefined : join(PROFILE_DIR, 'relay'),
  );
  const { child: loader } = await Child.start('server-load.ts', [], false);
  try {
    let peak = 0;
    const closedLoops =
      ONLY_RATE !== undefined ? [] : ONLY_INFLIGHT === undefined ? [1, 32] : [ONLY_INFLIGHT];
    for (const inflight of closedLoops) {
      const ours: Measured[] = [];
      const base: Measured[] = [];
      for (let r = 0; r < RUNS; r++) {
        base.push(
          await measured(loader, relay.child, () =>
            load(loader, {
              mode: BASE_MODE,
              url: relay.url,
              conns: CONNS,
              inflight,
              warmupMs: WARMUP_MS,
              durationMs: DURATION_MS,
            }),
          ),
        );
        ours.push(
          await measured(loader, server.child, () =>
            load(loader, {
              mode: 'quintet',
              url: server.url,
              conns: CONNS,
              inflight,
              warmupMs: WARMUP_MS,
              durationMs: DURATION_MS,
            }),
          ),
        );
      }
      const q = median(ours, (x) => x.msgsPerSec);
      const b = median(base, (x) => x.msgsPerSec);
      peak = Math.max(peak, q.msgsPerSec);
      emit({
        row: `${CONNS} connections x ${inflight} in flight`,
        runs: RUNS,
        msgsPerSec: round(q.msgsPerSec, 0),
        p50Ms: round(q.p50Ms),
        p99Ms: round(q.p99Ms),
        relayMsgsPerSec: round(b.msgsPerSec, 0),
        relayP50Ms: round(b.p50Ms),
        relayP99Ms: round(b.p99Ms),
        ratioToRelay: round(q.msgsPerSec / b.msgsPerSec),
        // Each Quintet run over the relay run just before it: steadier than
        // the ratio of medians when the machine's speed drifts.
        pairedRatioMedian: round(
          median(
            ours.map((x, i) => x.msgsPerSec / (base[i]?.msgsPerSec ?? Number.NaN)),
            (x) => x,
          ),
        ),
        target: 'ratio >= 0.7',
        latency: LATENCY,
        errors: q.errors,
        serverCpuPct: q.serverCpuPct,
        serverCpuUsPerMsg: q.serverCpuUsPerMsg,
        serverSystemSharePct: q.serverSystemPct,
        relaySystemSharePct: b.serverSystemPct,
        relayCpuPct: b.serverCpuPct,
        relayCpuUsPerMsg: b.serverCpuUsPerMsg,
        serverWritesPerMsg: q.serverWritesPerMsg,
        relayWritesPerMsg: b.serverWritesPerMsg,
        serverReadsPerMsg: q.serverReadsPerMsg,
        msgsPerCommit: q.msgsPerCommit,
        relayReadsPerMsg: b.serverReadsPerMsg,
        wsMessagesPerDelivery: WS_MESSAGES,
        loadGenCpuPct: round((100 * q.loadCpuMs) / (q.seconds * 1000), 0),
        relayLoadGenCpuPct: round((100 * b.loadCpuMs) / (b.seconds * 1000), 0),
        allRunsMsgsPerSec: ours.map((x) => round(x.msgsPerSec, 0)),
        allRunsRelayMsgsPerSec: base.map((x) => round(x.msgsPerSec, 0)),
      });
    }

    if (ONLY_INFLIGHT !== undefined) return;
    const rate = ONLY_RATE ?? Math.floor(peak / 2);
    const half: Measured[] = [];
    const halfRelay: Measured[] = [];
    for (let r = 0; r < RUNS; r++) {
      halfRelay.push(
        await measured(loader, relay.child, () =>
          load(loader, {
            mode: BASE_MODE,
            url: relay.url,
            conns: CONNS,
            rate,
            warmupMs: WARMUP_MS,
            durationMs: DURATION_MS,
          }),
        ),
      );
      half.push(
        await measured(loader, server.child, () =>
          load(loader, {
            mode: 'quintet',
            url: server.url,
            conns: CONNS,
            rate,
            warmupMs: WARMUP_MS,
            durationMs: DURATION_MS,
          }),
        ),
      );
    }
    const h = median(half, (x) => x.p99Ms);
    const hr = median(halfRelay, (x) => x.p99Ms);
    emit({
      row: 'p99 at half the peak rate (open loop)',
      runs: RUNS,
      offeredPerSec: rate,
      msgsPerSec: round(h.msgsPerSec, 0),
      p50Ms: round(h.p50Ms),
      p99Ms: round(h.p99Ms),
      relayP50Ms: round(hr.p50Ms),
      relayP99Ms: round(hr.p99Ms),
      ratioToRelay: round(h.msgsPerSec / hr.msgsPerSec),
      target: 'p99 < 20 ms',
      latency: LATENCY,
      errors: h.errors,
      allRunsP99Ms: half.map((x) => round(x.p99Ms)),
      allRunsRelayP99Ms: halfRelay.map((x) => round(x.p99Ms)),
      serverCpuPct: h.serverCpuPct,
      serverCpuUsPerMsg: h.serverCpuUsPerMsg,
      relayCpuPct: hr.serverCpuPct,
      msgsPerCommit: h.msgsPerCommit,
      loadGenCpuPct: round((100 * h.loadCpuMs) / (h.seconds * 1000), 0),
      relayLoadGenCpuPct: round((100 * hr.loadCpuMs) / (hr.seconds * 1000), 0),
    });
    if (ONLY_RATE !== undefined) return;

    // Idle connections: register them all, disconnect, take the baseline,
    // then reconnect and authenticate every device and measure again.
    const idle = async (phase: 'register' | 'connect' | 'disconnect'): Promise<void> => {
      const answer = (await loader.ask({
        cmd: 'idle',
        url: server.url,
        conns: IDLE_CONNS,
        prefix: 'idle',
        phase,
      })) as {
        ok: boolean;
        error?: string;
      };
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
    const baseline = await memory(server.child);
    await idle('connect');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const loaded = await memory(server.child);
    const perConn = (a: number, b: number): number => round((b - a) / IDLE_CONNS / 1024, 1);
    emit({
      row: `${IDLE_CONNS} idle authenticated connections`,
      rssPerConnKiB: perConn(baseline.rss, loaded.rss),
      heapPerConnKiB: perConn(
        baseline.heapUsed + baseline.external,
        loaded.heapUsed + loaded.external,
      ),
      baselineRssMiB: round(baseline.rss / 1048576, 1),
      loadedRssMiB: round(loaded.rss / 1048576, 1),
      target: '<= 16 KiB per connection',
    });
    await idle('disconnect');
  } finally {
    loader.process.kill();
    await server.child.stop();
    await relay.child.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(baseDataDir, { recursive: true, force: true });
  }
}

await main();
