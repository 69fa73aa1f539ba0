/**
 * Deletes of the PostgreSQL queue outside the per-turn batches: the TTL
 * sweep, a bounded number of rows per transaction, and a removed device's
 * whole queue. Both take the devices' head rows first, in key order, like
 * every batch does (queue-batch.ts), and delete envelope rows in the one
 * order acks delete them (`compareRowKeys`), so they interleave with live
 * traffic from any node without deadlocks, and keep the sizes exact. Each
 * runs in `inTransaction`.
 */
import type pg from 'pg';
import { compareRowKeys, releasePayloads, type RowKey } from './queue-batch.js';
import { int, text, type Row } from './rows.js';

/**
 * One step of the TTL sweep, inside the caller's transaction: deletes at
 * most `limit` envelopes accepted before `before`, oldest first. `more`
 * says whether a full step was taken (there may be more to delete).
 */
export async function expireBatch(
  client: pg.PoolClient,
  before: number,
  limit: number,
): Promise<{ deleted: number; more: boolean }> {
  // The index on server_timestamp bounds the scan to the rows taken.
  const victims = await client.query<Row>(
    `SELECT account, device_id, seq FROM queue_envelopes
     WHERE server_timestamp < $1 ORDER BY server_timestamp LIMIT $2`,
    [before, limit],
  );
  if (victims.rows.length === 0) return { deleted: 0, more: false };
  const keys: RowKey[] = victims.rows.map((row) => ({
    account: text(row, 'account'),
    deviceId: int(row, 'device_id'),
    seq: int(row, 'seq'),
  }));
  keys.sort(compareRowKeys);
  const account = keys.map((k) => k.account);
  const deviceId = keys.map((k) => k.deviceId);
  const seq = keys.map((k) => k.seq);
  // The delete below must probe the primary key in the order of its arrays
  // (the order acks lock in), not hash them against a scan of the table:
  // for this transaction only, no sequential scans (as queue_write_batch).
  await client.query('SET LOCAL enable_seqscan = off');
  await client.query(
    `SELECT 1 FROM queue_heads h
     WHERE (h.account, h.device_id) IN (SELECT * FROM unnest($1::text[], $2::int[]))
     ORDER BY h.account, h.device_id FOR UPDATE`,
    [account, deviceId],
  );
  // An envelope acked since the SELECT above is simply not found; the
  // timestamp is checked again in case a row was replaced meanwhile.
  const { rows } = await client.query<Row>(
    `WITH d AS (
       DELETE FROM queue_envelopes e
       USING unnest($1::text[], $2::int[], $3::bigint[]) AS v(account, device_id, seq)
       WHERE e.account = v.account AND e.device_id = v.device_id AND e.seq = v.seq
         AND e.server_timestamp < $4
       RETURNING e.account, e.device_id, e.size, e.payload_id
     ), h AS (
       UPDATE queue_heads h SET count = h.count - x.n, bytes = h.bytes - x.b
       FROM (SELECT account, device_id, count(*)::int AS n, sum(size)::bigint AS b
             FROM d GROUP BY account, device_id) AS x
       WHERE h.account = x.account AND h.device_id = x.device_id
     )
     SELECT payload_id::text AS payload_id FROM d`,
    [account, deviceId, seq, before],
  );
  await releasePayloads(client, payloadIds(rows));
  return { deleted: rows.length, more: victims.rows.length === limit };
}

/** Deletes a removed device's queue and its head, inside the caller's transaction. */
export async function purgeDevice(
  client: pg.PoolClient,
  account: string,
  deviceId: number,
): Promise<number> {
  await client.query('SELECT 1 FROM queue_heads WHERE account = $1 AND device_id = $2 FOR UPDATE', [
    account,
    deviceId,
  ]);
  const { rows } = await client.query<Row>(
    `DELETE FROM queue_envelopes WHERE account = $1 AND device_id = $2
     RETURNING payload_id::text AS payload_id`,
    [account, deviceId],
  );
  await releasePayloads(client, payloadIds(rows));
  // Device ids are never reused, so the sequence need not survive; an
  // enqueue racing the removal recreates the head with its own count.
  await client.query('DELETE FROM queue_heads WHERE account = $1 AND device_id = $2', [
    account,
    deviceId,
  ]);
  // And its acks, taken last like every writer takes them: a head recreated
  // by a racing enqueue must not have old acks subtracted from it. An ack
  // batch racing this one finds the envelopes gone and counts nothing.
  await client.query('DELETE FROM queue_acks WHERE account = $1 AND device_id = $2', [
    account,
    deviceId,
  ]);
  return rows.length;
}

function payloadIds(rows: readonly Row[]): string[] {
  const ids: string[] = [];
  for (const row of rows) {
    const id = row['payload_id'];
    if (typeof id === 'string') ids.push(id);
  }
  return ids;
}

/**
 * Runs `body` in a transaction on a pooled connection. A connection that
 * failed is destroyed rather than returned, so the pool never hands out a
 * dead socket; a ROLLBACK that fails goes to `onError`, the body's error is
 * thrown.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  onError: (error: unknown) => void,
  body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: unknown;
  // A checked-out client reports a lost connection as an 'error' event
  // besides failing its query; unheard, that event would crash the process.
  const lost = (error: unknown): void => {
    broken = error;
  };
  client.on('error', lost);
  try {
    await client.query('BEGIN');
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError;
      onError(rollbackError);
    }
    throw error;
  } finally {
    client.off('error', lost);
    client.release(broken === undefined ? undefined : toError(broken));
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
