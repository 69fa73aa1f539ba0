/**
 * `npm run bench:queue-bloat` — whether delete-on-ack bloats the PostgreSQL
 * queue tables. Sends and acknowledges messages in a realistic pattern
 * through `PostgresQueueStore` (group-committed batches mixing sends and
 * acks; a window of a few thousand messages queued at any time; one send
 * in ten a group fanout to 3 devices sharing one stored ciphertext), with
 * the store vacuuming after every `--vacuum-after` (default 5000) deletes
 * as it does in the server. Prints one JSON object per line:
 * `pg_total_relation_size` (indexes and TOAST included) of the queue tables
 * after 10,000 messages, every 100,000 after that, and at the end
 * (`--messages`, default 1,000,000), each with its ratio to the 10,000 figure.
 *
 * Uses its own schema in `QUINTET_BENCH_DATABASE_URL` (default the test
 * database), dropped at the end. Not a test: it asserts nothing.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { QUEUE_BATCH_MIGRATION_SQL } from '../src/server/store/postgres/queue-batch-schema.js';
import { QUEUE_MIGRATION_SQL } from '../src/server/store/postgres/queue-schema.js';
import { PostgresQueueStore } from '../src/server/store/postgres/queue.js';
import type { NewEnvelope, QueuedEnvelope } from '../src/server/store/types.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : NaN;
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

const URL = process.env.QUINTET_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MESSAGES = arg('--messages', 1_000_000);
const BASELINE = 10_000;
const SAMPLE_EVERY = 100_000;
/** The store's own vacuum policy (PostgresQueueStore `vacuumAfterDeletes`). */
const VACUUM_AFTER = arg('--vacuum-after', 5_000);
/** Messages queued at any time (sent, not yet acknowledged). */
const WINDOW = arg('--window', 3_000);
/** Sends per event-loop turn (one batch with the acks that fall due). */
const PER_TURN = arg('--per-turn', 300);
const DEVICES = 500;
const SCHEMA = `q_bloat_${process.pid}_${randomBytes(3).toString('hex')}`;

const admin = new pg.Client({ connectionString: URL });
await admin.connect();
await admin.query(`CREATE SCHEMA "${SCHEMA}"`);
const pool = new pg.Pool({
  connectionString: URL,
  options: `-c search_path=${SCHEMA}`,
  max: 4,
});
pool.on('error', (error) => console.error('pool:', error.message));
await pool.query(QUEUE_MIGRATION_SQL + QUEUE_BATCH_MIGRATION_SQL);
const store = new PostgresQueueStore(pool, { vacuumAfterDeletes: VACUUM_AFTER });

function device(): number {
  return 1 + Math.floor(Math.random() * DEVICES);
}

function message(destinationDevice: number, content: Uint8Array, now: number): NewEnvelope {
  return {
    destination: `user${destinationDevice % 97}`,
    destinationDevice,
    source: 'sender',
    sourceDevice: 1,
    type: 1,
    content,
    timestamp: now,
    serverTimestamp: now,
  };
}

/** Sends of one turn: single messages, and now and then a fanout of 3 sharing a content. */
function sends(count: number): NewEnvelope[][] {
  const now = Date.now();
  const out: NewEnvelope[][] = [];
  let made = 0;
  while (made < count) {
    const content = randomBytes(200 + Math.floor(Math.random() * 400));
    if (Math.random() < 0.1) {
      const first = device();
      out.push([0, 1, 2].map((k) => message(((first + k) % DEVICES) + 1, content, now)));
      made += 3;
    } else {
      out.push([message(device(), content, now)]);
      made += 1;
    }
  }
  return out;
}

/** Acks `due` grouped per device, one `ack` call each, as connections send them. */
function acks(due: readonly QueuedEnvelope[]): Promise<number>[] {
  const byDevice = new Map<string, { account: string; device: number; guids: Uint8Array[] }>();
  for (const e of due) {
    const key = `${e.destination}/${e.destinationDevice}`;
    let entry = byDevice.get(key);
    if (entry === undefined) {
      entry = { account: e.destination, device: e.destinationDevice, guids: [] };
      byDevice.set(key, entry);
    }
    entry.guids.push(e.guid);
  }
  return [...byDevice.values()].map((d) => store.ack(d.account, d.device, d.guids));
}

async function sizes(): Promise<Record<string, number>> {
  const { rows } = await admin.query<{ relname: string; bytes: string; dead: string }>(
    `SELECT c.relname, pg_total_relation_size(c.oid)::text AS bytes,
       COALESCE(s.n_dead_tup, 0)::text AS dead
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE n.nspname = $1 AND c.relkind = 'r'`,
    [SCHEMA],
  );
  const out: Record<string, number> = {};
  let total = 0;
  for (const row of rows) {
    out[`${row.relname}Bytes`] = Number(row.bytes);
    total += Number(row.bytes);
  }
  out['totalBytes'] = total;
  return out;
}

const window: QueuedEnvelope[] = [];
let sent = 0;
let acked = 0;
let baseline: number | undefined;
const started = performance.now();

async function record(phase: string): Promise<void> {
  const s = await sizes();
  const total = s['totalBytes'] ?? 0;
  if (baseline === undefined) baseline = total;
  console.log(
    JSON.stringify({
      phase,
      sent,
      acked,
      queued: window.length,
      ...s,
      ratioToBaseline: Number((total / baseline).toFixed(2)),
      vacuums: store.vacuums,
      elapsedMs: Math.round(performance.now() - started),
    }),
  );
}

let nextSample = BASELINE;
try {
  while (sent < MESSAGES || window.length > 0) {
    const batch = sent < MESSAGES ? sends(Math.min(PER_TURN, MESSAGES - sent)) : [];
    // Acks fall due once the window is full, and all of them at the end.
    const over = sent < MESSAGES ? Math.max(0, window.length - WINDOW + PER_TURN) : window.length;
    const due = window.splice(0, Math.min(over, window.length));
    // Sends and acks of one turn: one transaction.
    const [queued, deleted] = await Promise.all([
      Promise.all(batch.map((envelopes) => store.enqueue(envelopes))),
      Promise.all(acks(due)),
    ]);
    for (const list of queued) {
      window.push(...list);
      sent += list.length;
    }
    acked += deleted.reduce((a, b) => a + b, 0);
    if (sent >= nextSample) {
      await record(nextSample === BASELINE ? 'baseline' : 'sample');
      nextSample = nextSample === BASELINE ? SAMPLE_EVERY : nextSample + SAMPLE_EVERY;
    }
  }
  await record('end');
} finally {
  await store.close();
  await pool.end();
  await admin.query(`DROP SCHEMA "${SCHEMA}" CASCADE`);
  await admin.end();
}
