/**
 * `node --import tsx bench/queue-batch.ts [--batches N] [--per-batch M]`
 *
 * The PostgreSQL queue's batch statement alone (queue_write_batch,
 * queue-batch.ts), without a server: batches of M (default 50) one-envelope
 * enqueues (~300-byte contents, M devices) plus the acks of the previous
 * batch's envelopes — what one node's group commit writes at one message in flight
 * per connection. Prints PostgreSQL backend CPU and Node CPU per message
 * (steadier than wall time on a shared machine) and wall time per batch.
 *
 * `--two-nodes`: the acks go through a second store with its own
 * connection, as in a cluster where the recipient is on another node than
 * its senders: each round's enqueues (node A) and the previous round's acks
 * of the same devices (node B) commit concurrently. Where both lock the
 * same rows they take turns, each waiting for the other's commit (WAL
 * flush): the wall time per round shows it whatever the CPU load.
 *
 * Needs the machine's PostgreSQL (QUINTET_BENCH_DATABASE_URL overrides).
 * Not a test: it asserts nothing.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { migrate } from '../src/server/store/postgres/migrations.js';
import { PostgresQueueStore } from '../src/server/store/postgres/queue.js';
import type { NewEnvelope, QueuedEnvelope } from '../src/server/store/types.js';
import { emit, median, round } from './children.js';

const DATABASE =
  process.env.QUINTET_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const batchesArg = process.argv.indexOf('--batches');
const BATCHES = batchesArg >= 0 ? Number(process.argv[batchesArg + 1]) : 400;
const perBatchArg = process.argv.indexOf('--per-batch');
const PER_BATCH = perBatchArg >= 0 ? Number(process.argv[perBatchArg + 1]) : 50;
const REPEATS = 5;
const TWO_NODES = process.argv.includes('--two-nodes');

async function backendCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function envelope(device: number, i: number): NewEnvelope {
  return {
    destination: `acct-${device}`,
    destinationDevice: 1,
    source: `acct-${device ^ 1}`,
    sourceDevice: 1,
    type: 1,
    content: new Uint8Array(300).fill(i & 0xff),
    timestamp: Date.now(),
    serverTimestamp: Date.now(),
    sourceDeviceIdentity: new Uint8Array(33).fill(7),
  };
}

async function main(): Promise<void> {
  const schema = `bench_qb_${process.pid}`;
  const admin = new pg.Client({ connectionString: DATABASE });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = new pg.Pool({
    connectionString: DATABASE,
    options: `-c search_path=${schema}`,
    application_name: 'quintet-bench-queue-batch',
    max: 1,
  });
  const ackPool = new pg.Pool({
    connectionString: DATABASE,
    options: `-c search_path=${schema}`,
    max: 1,
  });
  const backendPid = async (of: pg.Pool): Promise<number> => {
    const client = await of.connect();
    try {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
        ?.pid;
      if (pid === undefined) throw new Error('no backend pid');
      return pid;
    } finally {
      client.release();
    }
  };
  try {
    const client = await pool.connect();
    await migrate(client, schema, Date.now());
    client.release();
    const pids = [await backendPid(pool), ...(TWO_NODES ? [await backendPid(ackPool)] : [])];
    const cpuOfBackends = async (): Promise<number> => {
      let total = 0;
      for (const pid of pids) total += await backendCpuMs(pid);
      return total;
    };
    const store = new PostgresQueueStore(pool, { vacuumAfterDeletes: 5000 });
    // The second node only acks here, so its acks would wait the store's
    // ack delay each round for an enqueue that never comes (a real node
    // also sends): off, the rounds measure the statement.
    const acker = TWO_NODES
      ? new PostgresQueueStore(ackPool, { vacuumAfterDeletes: 5000, ackDelayMs: 0 })
      : store;
    let previous: QueuedEnvelope[] = [];
    const rounds: { pgUs: number; nodeUs: number; wallMs: number }[] = [];
    for (let r = 0; r < REPEATS; r += 1) {
      const pg0 = await cpuOfBackends();
      const node0 = process.cpuUsage();
      const t0 = performance.now();
      for (let b = 0; b < BATCHES; b += 1) {
        const sends = Array.from({ length: PER_BATCH }, (_, d) =>
          store.enqueue([envelope(d, b)], { maxCount: 1000, maxBytes: 10_000_000 }),
        );
        const acks = previous.map((e) => acker.ack(e.destination, e.destinationDevice, [e.guid]));
        const [queued] = await Promise.all([Promise.all(sends), Promise.all(acks)]);
        previous = queued.flat();
      }
      const wallMs = performance.now() - t0;
      const node = process.cpuUsage(node0);
      const msgs = BATCHES * PER_BATCH;
      rounds.push({
        pgUs: ((await cpuOfBackends()) - pg0) * (1000 / msgs),
        nodeUs: (node.user + node.system) / msgs,
        wallMs: wallMs / BATCHES,
      });
    }
    const pick = (key: 'pgUs' | 'nodeUs' | 'wallMs'): Record<string, unknown> => ({
      median: round(median(rounds, (x) => x[key])[key], 1),
      all: rounds.map((x) => round(x[key], 1)),
    });
    emit({
      row: `queue_write_batch: ${PER_BATCH} enqueues + ${PER_BATCH} acks per batch${TWO_NODES ? ', acks on a second node' : ''}`,
      batches: BATCHES,
      pgBackendCpuUsPerMsg: pick('pgUs'),
      nodeCpuUsPerMsg: pick('nodeUs'),
      wallMsPerBatch: pick('wallMs'),
    });
    await store.close();
    await acker.close();
  } finally {
    await pool.end();
    await ackPool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

await main();
