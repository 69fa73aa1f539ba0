/**
 * One group-committed batch of the PostgreSQL queue: every `enqueue` and
 * `ack` submitted during an event-loop turn, written in ONE transaction
 * with multi-row statements (arrays through `unnest`), whatever the number
 * of callers:
 *
 * 1. lock (and create) the `queue_heads` row of every device the batch
 *    touches, in one statement, in key order — the only order any writer
 *    takes them in, so two nodes' batches cannot deadlock — and add the
 *    enqueued counts, bytes and sequence numbers;
 * 2. check each enqueue against its bounds with those exact, locked sizes,
 *    refusing (only) the callers past a bound;
 * 3. insert shared payloads, then every envelope;
 * 4. delete every acked envelope, lowering the heads' sizes in the same
 *    statement, and release the payloads they pointed at.
 *
 * Steps 3 and 4 share one statement when the batch has both (a busy
 * node's usual batch): BEGIN, heads, insert + delete, COMMIT — four round
 * trips, two of them while the heads are locked.
 *
 * The statements run on every batch are named, so each pooled connection
 * parses and plans them once rather than on every batch (PostgreSQL's CPU
 * is shared with the nodes').
 */
import type pg from 'pg';
import type { RandomSource } from '../../../crypto/provider.js';
import { envelopeGuid } from '../envelope-guid.js';
import {
  StoreError,
  type NewEnvelope,
  type QueueBounds,
  type QueueLimit,
  type QueuedEnvelope,
} from '../types.js';
import { numberOf, textOf, type PgRow } from './typed-rows.js';

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

interface Head {
  readonly account: string;
  readonly deviceId: number;
  /** The enqueued envelopes and bytes the batch asks for (then: refused). */
  count: number;
  bytes: number;
}

/** A device's head while the batch decides: sizes and the next sequence number. */
interface Running {
  count: number;
  bytes: number;
  nextSeq: number;
}

/** `envelope` as queued, built as one literal shape (the push encoder reads many). */
function withGuid(e: NewEnvelope, guid: Uint8Array): QueuedEnvelope {
  const base = {
    guid,
    destination: e.destination,
    destinationDevice: e.destinationDevice,
    source: e.source,
    sourceDevice: e.sourceDevice,
    type: e.type,
    content: e.content,
    timestamp: e.timestamp,
    serverTimestamp: e.serverTimestamp,
  };
  if (e.sourceDeviceIdentity === undefined && e.groupId === undefined) return base;
  return {
    ...base,
    ...(e.sourceDeviceIdentity === undefined
      ? {}
      : { sourceDeviceIdentity: e.sourceDeviceIdentity }),
    ...(e.groupId === undefined ? {} : { groupId: e.groupId }),
  };
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
 * Runs `ops` inside the caller's open transaction on `client`. Sets each
 * op's outcome; throws (and the caller rolls back) when a statement fails.
 */
export async function writeBatch(
  client: pg.PoolClient,
  ops: readonly BatchOp[],
  random: RandomSource,
): Promise<void> {
  const heads = new Map<string, Head>();
  const head = (account: string, deviceId: number): Head => {
    const key = deviceKey(account, deviceId);
    let h = heads.get(key);
    if (h === undefined) {
      h = { account, deviceId, count: 0, bytes: 0 };
      heads.set(key, h);
    }
    return h;
  };
  for (const op of ops) {
    if (op.kind === 'ack') {
      if (op.seqs.length > 0) head(op.account, op.deviceId);
      continue;
    }
    for (const e of op.envelopes) {
      const h = head(e.destination, e.destinationDevice);
      h.count += 1;
      h.bytes += e.content.length;
    }
  }
  if (heads.size === 0) return;
  const running = await lockHeads(client, heads);
  const refunds = decide(ops, running);
  if (refunds.length > 0) await refund(client, refunds);
  const inserts = await prepareInserts(client, ops, running, random);
  const acks = ackRows(ops);
  // One statement for both when the batch has both (the common batch of a
  // busy node): a round trip less while the heads stay locked.
  if (inserts !== undefined && acks !== undefined) {
    const { rows } = await client.query<PgRow>({
      name: 'quintet_queue_insert_delete',
      text: `WITH i AS (${INSERT_SQL}), ${deleteSql(inserts.length + 1)}`,
      values: [...inserts, ...acks.values],
    });
    await settleAcks(client, acks.ackOps, rows);
  } else if (inserts !== undefined) {
    await client.query({ name: 'quintet_queue_insert', text: INSERT_SQL, values: inserts });
  } else if (acks !== undefined) {
    const { rows } = await client.query<PgRow>({
      name: 'quintet_queue_delete_acked',
      text: `WITH ${deleteSql(1)}`,
      values: acks.values,
    });
    await settleAcks(client, acks.ackOps, rows);
  }
}

const INSERT_SQL = `INSERT INTO queue_envelopes (account, device_id, seq, guid, source, source_device,
    type, content, timestamp, server_timestamp, source_device_identity, group_id, payload_id, size)
  SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::text[],
    $6::int[], $7::int[], $8::bytea[], $9::bigint[], $10::bigint[], $11::bytea[],
    $12::bytea[], $13::bigint[], $14::int[])`;

/**
 * Deletes every acked envelope — only where the whole guid and the owner
 * match, so another device's guid or a guessed one deletes nothing — and
 * lowers the heads' sizes by what was deleted; its parameters start at
 * `$first`. The tail of a WITH statement.
 */
function deleteSql(first: number): string {
  const $ = (i: number): string => `$${first + i}`;
  return `d AS (
       DELETE FROM queue_envelopes e
       USING unnest(${$(0)}::int[], ${$(1)}::text[], ${$(2)}::int[], ${$(3)}::bigint[],
         ${$(4)}::bytea[]) AS a(op, account, device_id, seq, guid)
       WHERE e.account = a.account AND e.device_id = a.device_id AND e.seq = a.seq
         AND e.guid = a.guid
       RETURNING a.op, e.account, e.device_id, e.size, e.payload_id
     ), h AS (
       UPDATE queue_heads h SET count = h.count - x.n, bytes = h.bytes - x.b
       FROM (SELECT account, device_id, count(*)::int AS n, sum(size)::bigint AS b
             FROM d GROUP BY account, device_id) AS x
       WHERE h.account = x.account AND h.device_id = x.device_id
     )
     SELECT op, payload_id::text AS payload_id FROM d`;
}

/**
 * Step 1: one upsert that creates missing heads, locks every head of the
 * batch in key order and adds the batch's whole enqueue; returns each
 * device's sizes and sequence as they were before it.
 */
async function lockHeads(
  client: pg.PoolClient,
  heads: ReadonlyMap<string, Head>,
): Promise<Map<string, Running>> {
  const list = [...heads.values()];
  const { rows } = await client.query<PgRow>({
    name: 'quintet_queue_lock_heads',
    text: `INSERT INTO queue_heads AS h (account, device_id, last_seq, count, bytes)
       SELECT account, device_id, n, n, b
       FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[]) AS t(account, device_id, n, b)
       ORDER BY account, device_id
     ON CONFLICT (account, device_id) DO UPDATE SET
       last_seq = h.last_seq + excluded.last_seq,
       count = h.count + excluded.count,
       bytes = h.bytes + excluded.bytes
     RETURNING account, device_id, last_seq, count, bytes`,
    values: [
      list.map((h) => h.account),
      list.map((h) => h.deviceId),
      list.map((h) => h.count),
      list.map((h) => h.bytes),
    ],
  });
  const running = new Map<string, Running>();
  for (const row of rows) {
    const key = deviceKey(textOf(row, 'account'), numberOf(row, 'device_id'));
    const added = heads.get(key);
    if (added === undefined) throw new StoreError('corrupt', 'queue head of an unknown device');
    running.set(key, {
      count: numberOf(row, 'count') - added.count,
      bytes: numberOf(row, 'bytes') - added.bytes,
      nextSeq: numberOf(row, 'last_seq') - added.count + 1,
    });
  }
  return running;
}

/**
 * Step 2: walks the enqueues in submission order against the locked sizes
 * (exact across the cluster: every writer of a device holds its head row).
 * A refused enqueue gets `queue-full` and counts nothing; its share of the
 * step-1 addition is returned for `refund`.
 */
function decide(ops: readonly BatchOp[], running: ReadonlyMap<string, Running>): Head[] {
  const refunds = new Map<string, Head>();
  for (const op of ops) {
    if (op.kind !== 'enqueue') continue;
    let refused: QueueLimit | undefined;
    let last = -1;
    for (let i = 0; i < op.envelopes.length && refused === undefined; i += 1) {
      const e = op.envelopes[i];
      if (e === undefined) continue;
      const size = running.get(deviceKey(e.destination, e.destinationDevice));
      if (size === undefined) throw new StoreError('corrupt', 'queue head missing');
      size.count += 1;
      size.bytes += e.content.length;
      last = i;
      if (op.bounds === undefined) continue;
      if (size.count > op.bounds.maxCount) refused = 'queue-count';
      else if (size.bytes > op.bounds.maxBytes) refused = 'queue-bytes';
    }
    if (refused === undefined || op.bounds === undefined) continue;
    for (let j = 0; j < op.envelopes.length; j += 1) {
      const e = op.envelopes[j];
      if (e === undefined) continue;
      const key = deviceKey(e.destination, e.destinationDevice);
      if (j <= last) {
        const size = running.get(key);
        if (size !== undefined) {
          size.count -= 1;
          size.bytes -= e.content.length;
        }
      }
      let r = refunds.get(key);
      if (r === undefined) {
        r = { account: e.destination, deviceId: e.destinationDevice, count: 0, bytes: 0 };
        refunds.set(key, r);
      }
      r.count += 1;
      r.bytes += e.content.length;
    }
    op.result = queueFull(refused, op.bounds);
  }
  return [...refunds.values()];
}

/**
 * Takes refused enqueues back out of the head sizes (rows already locked).
 * Their sequence numbers stay used: a gap, which paging does not mind.
 */
async function refund(client: pg.PoolClient, refunds: readonly Head[]): Promise<void> {
  await client.query(
    `UPDATE queue_heads h SET count = h.count - t.n, bytes = h.bytes - t.b
     FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[]) AS t(account, device_id, n, b)
     WHERE h.account = t.account AND h.device_id = t.device_id`,
    [
      refunds.map((h) => h.account),
      refunds.map((h) => h.deviceId),
      refunds.map((h) => h.count),
      refunds.map((h) => h.bytes),
    ],
  );
}

/**
 * Step 3: numbers the accepted enqueues' envelopes, inserts their shared
 * payloads (a statement, only for group fanouts) and returns the
 * envelope rows as `INSERT_SQL`'s parameters (undefined: none).
 */
async function prepareInserts(
  client: pg.PoolClient,
  ops: readonly BatchOp[],
  running: ReadonlyMap<string, Running>,
  random: RandomSource,
): Promise<unknown[][] | undefined> {
  const accepted: EnqueueOp[] = [];
  let runs = 0;
  for (const op of ops) {
    if (op.kind !== 'enqueue' || op.result !== undefined) continue;
    accepted.push(op);
    // A run of envelopes with one content object (a group fanout) stores
    // the content once.
    for (let i = 0; i < op.envelopes.length; i += 1) {
      const content = op.envelopes[i]?.content;
      if (content !== op.envelopes[i - 1]?.content && content === op.envelopes[i + 1]?.content) {
        runs += 1;
      }
    }
  }
  if (accepted.length === 0) return undefined;
  const payloadIds = runs === 0 ? [] : await nextPayloadIds(client, runs);
  const payloads = { id: [] as string[], content: [] as Uint8Array[], refs: [] as number[] };
  const rows = {
    account: [] as string[],
    deviceId: [] as number[],
    seq: [] as number[],
    guid: [] as Uint8Array[],
    source: [] as string[],
    sourceDevice: [] as number[],
    type: [] as number[],
    content: [] as Uint8Array[],
    timestamp: [] as number[],
    serverTimestamp: [] as number[],
    identity: [] as (Uint8Array | null)[],
    groupId: [] as (Uint8Array | null)[],
    payloadId: [] as (string | null)[],
    size: [] as number[],
  };
  for (const op of accepted) {
    const queued: QueuedEnvelope[] = [];
    let payload: string | null = null;
    for (let i = 0; i < op.envelopes.length; i += 1) {
      const e = op.envelopes[i];
      if (e === undefined) continue;
      const previous = op.envelopes[i - 1]?.content;
      if (e.content !== previous) {
        payload = null;
        let run = 1;
        while (op.envelopes[i + run]?.content === e.content) run += 1;
        if (run > 1) {
          payload = payloadIds.shift() ?? null;
          if (payload === null) throw new StoreError('corrupt', 'payload ids ran out');
          payloads.id.push(payload);
          payloads.content.push(e.content);
          payloads.refs.push(run);
        }
      }
      const size = running.get(deviceKey(e.destination, e.destinationDevice));
      if (size === undefined) throw new StoreError('corrupt', 'queue head missing');
      const seq = size.nextSeq;
      size.nextSeq += 1;
      const guid = envelopeGuid(seq, random);
      rows.account.push(e.destination);
      rows.deviceId.push(e.destinationDevice);
      rows.seq.push(seq);
      rows.guid.push(guid);
      rows.source.push(e.source);
      rows.sourceDevice.push(e.sourceDevice);
      rows.type.push(e.type);
      rows.content.push(payload === null ? e.content : EMPTY);
      rows.timestamp.push(e.timestamp);
      rows.serverTimestamp.push(e.serverTimestamp);
      rows.identity.push(e.sourceDeviceIdentity ?? null);
      rows.groupId.push(e.groupId ?? null);
      rows.payloadId.push(payload);
      rows.size.push(e.content.length);
      queued.push(withGuid(e, guid));
    }
    op.result = queued;
  }
  if (payloads.id.length > 0) {
    await client.query(
      `INSERT INTO queue_payloads (id, content, refs)
       SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::int[])`,
      [payloads.id, payloads.content, payloads.refs],
    );
  }
  return [
    rows.account,
    rows.deviceId,
    rows.seq,
    rows.guid,
    rows.source,
    rows.sourceDevice,
    rows.type,
    rows.content,
    rows.timestamp,
    rows.serverTimestamp,
    rows.identity,
    rows.groupId,
    rows.payloadId,
    rows.size,
  ];
}

async function nextPayloadIds(client: pg.PoolClient, n: number): Promise<string[]> {
  const { rows } = await client.query<PgRow>(
    "SELECT nextval('queue_payload_ids')::text AS id FROM generate_series(1, $1::int)",
    [n],
  );
  return rows.map((row) => textOf(row, 'id'));
}

/** Step 4's parameters (`deleteSql`): every acked guid with its op and owner; undefined: none. */
function ackRows(
  ops: readonly BatchOp[],
): { readonly ackOps: AckOp[]; readonly values: unknown[][] } | undefined {
  const acks = { op: [] as number[], account: [] as string[], deviceId: [] as number[] };
  const keys = { seq: [] as number[], guid: [] as Uint8Array[] };
  const ackOps: AckOp[] = [];
  for (const op of ops) {
    if (op.kind !== 'ack' || op.seqs.length === 0) continue;
    for (let i = 0; i < op.seqs.length; i += 1) {
      const seq = op.seqs[i];
      const guid = op.guids[i];
      if (seq === undefined || guid === undefined) continue;
      acks.op.push(ackOps.length);
      acks.account.push(op.account);
      acks.deviceId.push(op.deviceId);
      keys.seq.push(seq);
      keys.guid.push(guid);
    }
    ackOps.push(op);
  }
  if (ackOps.length === 0) return undefined;
  return { ackOps, values: [acks.op, acks.account, acks.deviceId, keys.seq, keys.guid] };
}

/** Counts each ack's deletes and releases the shared payloads they pointed at. */
async function settleAcks(
  client: pg.PoolClient,
  ackOps: readonly AckOp[],
  rows: readonly PgRow[],
): Promise<void> {
  const released: string[] = [];
  for (const row of rows) {
    const op = ackOps[numberOf(row, 'op')];
    if (op !== undefined) op.deleted += 1;
    const payload = row['payload_id'];
    if (typeof payload === 'string') released.push(payload);
  }
  await releasePayloads(client, released);
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
