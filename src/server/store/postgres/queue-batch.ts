/**
 * One group-committed batch of the PostgreSQL queue: every `enqueue` and
 * `ack` submitted during an event-loop turn, written as ONE statement —
 * `queue_write_batch` (queue-batch-schema.ts; its signature since
 * queue-acks-schema.ts, its current body in queue-lean-schema.ts), which
 * locks the enqueued devices' heads in key order, checks the bounds with the
 * locked sizes, inserts, deletes the acked envelopes and counts them in the
 * devices' ack rows —
 * called in autocommit, whatever the number of callers. One round trip per
 * batch: at one message in flight per connection, throughput follows the
 * batch's latency, and the heads another node may need stay locked only for
 * the function's run and its commit.
 *
 * This side flattens the ops into the function's arrays (ops numbered from
 * 1 in submission order; an op's envelopes contiguous; a run of envelopes
 * sharing one content object becomes one shared payload) and hands each op
 * its outcome. The guids' random halves are drawn here; the function and
 * `settle` stamp the same sequence into their first 8 bytes.
 */
import type pg from 'pg';
import type { RandomSource } from '../../../crypto/provider.js';
import { SERVER_GUID_LENGTH } from '../../../wire/limits.js';
import { stampSequence, withGuid } from '../envelope-guid.js';
import { int4Array, int8Array, textArray } from './binary-arrays.js';
import { BytePack, packFixed } from './byte-pack.js';
import {
  StoreError,
  type NewEnvelope,
  type QueueBounds,
  type QueueLimit,
  type QueuedEnvelope,
} from '../types.js';
import type { Row } from './rows.js';

/** A submitted `enqueue`. */
export interface EnqueueOp {
  readonly kind: 'enqueue';
  readonly envelopes: readonly NewEnvelope[];
  readonly bounds: QueueBounds | undefined;
  /** Set while the batch runs, handed to the caller only after COMMIT. */
  result: readonly QueuedEnvelope[] | StoreError | undefined;
}

/** A submitted `ack`, its guids already reduced to the ones that name a sequence. */
export interface AckOp {
  readonly kind: 'ack';
  readonly account: string;
  readonly deviceId: number;
  readonly seqs: readonly number[];
  readonly guids: readonly Uint8Array[];
  deleted: number;
}

export type BatchOp = EnqueueOp | AckOp;

const EMPTY = new Uint8Array(0);

/** The `(account, device)` key of the in-memory maps (NUL cannot occur in an account name). */
export function deviceKey(account: string, deviceId: number): string {
  return `${account}\u0000${deviceId}`;
}

/** A submitted op and its caller. */
export interface Pending {
  readonly op: BatchOp;
  readonly resolve: (value: never) => void;
  readonly reject: (reason: unknown) => void;
}

/** A batch waiting or in flight, and who waits for it to settle. */
export interface Batch {
  readonly entries: Pending[];
  /** Devices whose acks it carries: their reads wait for it. */
  readonly ackedDevices: Set<string>;
  /** Every device it writes (set when it starts). */
  readonly devices: Set<string>;
  readonly settled: Promise<void>;
  readonly settle: () => void;
}

export function newBatch(): Batch {
  let settle = (): void => undefined;
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  return { entries: [], ackedDevices: new Set(), devices: new Set(), settled, settle };
}

/** The devices `op` writes. */
export function opDevices(op: BatchOp): string[] {
  if (op.kind === 'ack') return [deviceKey(op.account, op.deviceId)];
  const keys: string[] = [];
  let last = '';
  for (const e of op.envelopes) {
    const key = deviceKey(e.destination, e.destinationDevice);
    if (key !== last) keys.push(key);
    last = key;
  }
  return keys;
}

function queueFull(limit: QueueLimit, bounds: QueueBounds): StoreError {
  return new StoreError(
    'queue-full',
    limit === 'queue-count'
      ? `a recipient device's queue holds its maximum of ${bounds.maxCount} envelopes`
      : `a recipient device's queue holds its maximum of ${bounds.maxBytes} bytes`,
    { limit },
  );
}

/**
 * Writes `ops` as one statement in autocommit (`queue_write_batch`,
 * queue-batch-schema.ts): its own transaction, one round trip. Sets each
 * op's outcome; throws when the statement fails, and then nothing of the
 * batch is stored.
 */
export async function writeBatch(
  pool: pg.Pool,
  ops: readonly BatchOp[],
  random: RandomSource,
): Promise<void> {
  const heads = new Map<string, number>();
  const h = { account: [] as string[], deviceId: [] as number[], n: [] as number[] };
  const hb: number[] = [];
  const head = (account: string, deviceId: number): number => {
    const key = deviceKey(account, deviceId);
    let index = heads.get(key);
    if (index === undefined) {
      index = h.account.length;
      heads.set(key, index);
      h.account.push(account);
      h.deviceId.push(deviceId);
      h.n.push(0);
      hb.push(0);
    }
    return index;
  };
  const o = { maxCount: [] as (number | null)[], maxBytes: [] as (number | null)[] };
  const e = {
    op: [] as number[],
    head: [] as number[],
    account: [] as string[],
    deviceId: [] as number[],
    guid: [] as Uint8Array[],
    source: [] as string[],
    sourceDevice: [] as number[],
    type: [] as number[],
    content: new BytePack(),
    timestamp: [] as number[],
    serverTimestamp: [] as number[],
    identity: new BytePack(),
    groupId: new BytePack(),
    payload: [] as (number | null)[],
    size: [] as number[],
  };
  const p = { op: [] as number[], content: new BytePack(), refs: [] as number[] };
  const acks: AckRow[] = [];
  for (let k = 0; k < ops.length; k += 1) {
    const op = ops[k];
    if (op === undefined) continue;
    // Ops are numbered from 1 in the function (PostgreSQL arrays).
    const opNo = k + 1;
    o.maxCount.push(op.kind === 'enqueue' ? (op.bounds?.maxCount ?? null) : null);
    o.maxBytes.push(op.kind === 'enqueue' ? (op.bounds?.maxBytes ?? null) : null);
    if (op.kind === 'ack') {
      // Acks take no head (queue-acks-schema.ts): collected, sorted below.
      for (let i = 0; i < op.seqs.length; i += 1) {
        const seq = op.seqs[i];
        const guid = op.guids[i];
        if (seq === undefined || guid === undefined) continue;
        acks.push({ op: opNo, account: op.account, deviceId: op.deviceId, seq, guid });
      }
      continue;
    }
    let payload: number | null = null;
    for (let i = 0; i < op.envelopes.length; i += 1) {
      const env = op.envelopes[i];
      if (env === undefined) continue;
      // A run of envelopes with one content object (a group fanout) stores
      // the content once.
      if (env.content !== op.envelopes[i - 1]?.content) {
        payload = null;
        let run = 1;
        while (op.envelopes[i + run]?.content === env.content) run += 1;
        if (run > 1) {
          p.op.push(opNo);
          p.content.add(env.content);
          p.refs.push(run);
          payload = p.op.length;
        }
      }
      const index = head(env.destination, env.destinationDevice);
      h.n[index] = (h.n[index] ?? 0) + 1;
      hb[index] = (hb[index] ?? 0) + env.content.length;
      e.op.push(opNo);
      e.head.push(index + 1);
      e.account.push(env.destination);
      e.deviceId.push(env.destinationDevice);
      // Its first 8 bytes become the sequence, in the function and below.
      e.guid.push(random(SERVER_GUID_LENGTH));
      e.source.push(env.source);
      e.sourceDevice.push(env.sourceDevice);
      e.type.push(env.type);
      e.content.add(payload === null ? env.content : EMPTY);
      e.timestamp.push(env.timestamp);
      e.serverTimestamp.push(env.serverTimestamp);
      e.identity.add(env.sourceDeviceIdentity ?? null);
      e.groupId.add(env.groupId ?? null);
      e.payload.push(payload);
      e.size.push(env.content.length);
    }
  }
  if (heads.size === 0 && acks.length === 0) return;
  // Envelope rows are deleted in the order of these arrays, and an ack no
  // longer serialises on the device's head: every writer deleting envelopes
  // takes them in this one order, so two batches acking the same devices
  // (or one racing the TTL sweep) queue instead of deadlocking.
  acks.sort(compareRowKeys);
  const a = {
    op: acks.map((x) => x.op),
    account: acks.map((x) => x.account),
    deviceId: acks.map((x) => x.deviceId),
    seq: acks.map((x) => x.seq),
    guid: acks.map((x) => x.guid),
  };
  // Every parameter travels in binary: byte fields packed (byte-pack.ts),
  // the rest as binary arrays (binary-arrays.ts).
  const query = {
    name: 'quintet_queue_write_batch_7',
    text: `SELECT seqs::text[] AS seqs, refused, acked FROM queue_write_batch(
      $1::text[], $2::int[], $3::int[], $4::bigint[], $5::int[], $6::bigint[],
      $7::int[], $8::int[], $9::text[], $10::int[], $11::bytea, $12::text[], $13::int[],
      $14::int[], $15::bytea, $16::int[], $17::int[], $18::bigint[], $19::bigint[],
      $20::bytea, $21::int[], $22::int[], $23::bytea, $24::int[], $25::int[],
      $26::int[], $27::int[], $28::int[], $29::bytea, $30::int[], $31::int[], $32::int[],
      $33::int[], $34::text[], $35::int[], $36::bigint[], $37::bytea)`,
    values: [
      textArray(h.account),
      int4Array(h.deviceId),
      int4Array(h.n),
      int8Array(hb),
      int4Array(o.maxCount),
      int8Array(o.maxBytes),
      int4Array(e.op),
      int4Array(e.head),
      textArray(e.account),
      int4Array(e.deviceId),
      packFixed(e.guid),
      textArray(e.source),
      int4Array(e.sourceDevice),
      int4Array(e.type),
      e.content.bytes(),
      int4Array(e.content.offsets),
      int4Array(e.content.lengths),
      int8Array(e.timestamp),
      int8Array(e.serverTimestamp),
      e.identity.bytes(),
      int4Array(e.identity.offsets),
      int4Array(e.identity.lengths),
      e.groupId.bytes(),
      int4Array(e.groupId.offsets),
      int4Array(e.groupId.lengths),
      int4Array(e.payload),
      int4Array(e.size),
      int4Array(p.op),
      p.content.bytes(),
      int4Array(p.content.offsets),
      int4Array(p.content.lengths),
      int4Array(p.refs),
      int4Array(a.op),
      textArray(a.account),
      int4Array(a.deviceId),
      int8Array(a.seq),
      packFixed(a.guid),
    ],
  };
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { rows } = await pool.query<Row>(query);
      settle(ops, rows[0], e.guid);
      return;
    } catch (error) {
      // The statement is the whole transaction: a deadlock victim stored
      // nothing and can run again as it is. Bounded, then the callers hear.
      if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(error)) throw error;
    }
  }
}

/** Runs of a batch PostgreSQL aborted as a deadlock victim, before giving up. */
const DEADLOCK_ATTEMPTS = 3;

function isDeadlock(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === '40P01';
}

/** An envelope row by its key, as the deletes of acks and the TTL sweep take them. */
export interface RowKey {
  readonly account: string;
  readonly deviceId: number;
  readonly seq: number;
}

interface AckRow extends RowKey {
  readonly op: number;
  readonly guid: Uint8Array;
}

/** The one order every writer deletes envelope rows in (by code unit, not collation). */
export function compareRowKeys(x: RowKey, y: RowKey): number {
  if (x.account !== y.account) return x.account < y.account ? -1 : 1;
  return x.deviceId - y.deviceId || x.seq - y.seq;
}

/** Hands each op its outcome from the function's result row. */
function settle(ops: readonly BatchOp[], row: Row | undefined, guids: Uint8Array[]): void {
  const seqs = arrayOf(row, 'seqs');
  const refused = arrayOf(row, 'refused');
  const acked = arrayOf(row, 'acked');
  let next = 0;
  for (let k = 0; k < ops.length; k += 1) {
    const op = ops[k];
    if (op === undefined) continue;
    if (op.kind === 'ack') {
      const n = acked[k];
      op.deleted = typeof n === 'number' ? n : 0;
      continue;
    }
    const limit = refused[k];
    if (limit === 'queue-count' || limit === 'queue-bytes') {
      next += op.envelopes.length;
      op.result = op.bounds === undefined ? refusedUnbounded() : queueFull(limit, op.bounds);
      continue;
    }
    const queued: QueuedEnvelope[] = [];
    for (const env of op.envelopes) {
      const seq = seqs[next];
      const guid = guids[next];
      next += 1;
      if (typeof seq !== 'string' || guid === undefined) {
        throw new StoreError('corrupt', 'queue batch returned no sequence for an envelope');
      }
      queued.push(withGuid(env, stampSequence(guid, Number(seq))));
    }
    op.result = queued;
  }
}

function arrayOf(row: Row | undefined, column: string): readonly unknown[] {
  const value = row?.[column];
  if (!Array.isArray(value)) throw new StoreError('corrupt', `queue batch returned no ${column}`);
  return value as readonly unknown[];
}

function refusedUnbounded(): StoreError {
  return new StoreError('corrupt', 'queue batch refused an enqueue that had no bounds');
}

/**
 * Drops one reference per entry of `ids` (an id once per deleted envelope),
 * deleting payloads left with none. The rows are locked in id order first:
 * two nodes releasing the same payloads cannot deadlock.
 */
export async function releasePayloads(
  client: pg.PoolClient,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0) return;
  await client.query(
    'SELECT id FROM queue_payloads WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
    [ids],
  );
  // Disjoint rows (refs <= n or > n), locked above: one statement does both.
  await client.query(
    `WITH x AS (SELECT id, count(*)::int AS n FROM unnest($1::bigint[]) AS u(id) GROUP BY id),
     gone AS (DELETE FROM queue_payloads p USING x WHERE p.id = x.id AND p.refs <= x.n)
     UPDATE queue_payloads p SET refs = p.refs - x.n FROM x WHERE p.id = x.id AND p.refs > x.n`,
    [ids],
  );
}
