/**
 * The two ways the PostgreSQL stores talk to the pool: one statement, or a
 * transaction on one checked-out client. Both refuse a closed store and map
 * driver failures (errors.ts), so every store method rejects with the same
 * codes.
 */
import type pg from 'pg';
import { mapPgError } from './errors.js';
import { StoreError } from '../types.js';
import type { Row } from './rows.js';

/** Something that runs a parameterized statement (the pool or a client in a transaction). */
export interface Queryable {
  query<R extends Row = Row>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

function checkOpen(pool: pg.Pool): void {
  if (pool.ending || pool.ended) throw new StoreError('closed', 'store is closed');
}

/** Runs one statement on any pooled connection. */
export async function query(
  pool: pg.Pool,
  text: string,
  values: readonly unknown[] = [],
): Promise<Row[]> {
  checkOpen(pool);
  try {
    const result = await pool.query<Row>(text, [...values]);
    return result.rows;
  } catch (error) {
    throw mapPgError(error);
  }
}

/**
 * Runs `body` inside BEGIN … COMMIT on one client (READ COMMITTED; bodies
 * take the row locks they need). Any throw rolls back; a client whose
 * connection failed is destroyed instead of returned to the pool.
 */
export async function transaction<T>(
  pool: pg.Pool,
  body: (client: Queryable) => Promise<T>,
): Promise<T> {
  checkOpen(pool);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapPgError(error);
  }
  // A checked-out client has no pool listener: the connection dying between
  // two statements (no query in flight) would otherwise be an unhandled
  // 'error' event and end the process. The next statement then fails with
  // "not queryable", mapped to `unavailable` for the caller.
  let lost = false;
  const onLost = (): void => {
    lost = true;
  };
  client.on('error', onLost);
  const done = (destroy: Error | boolean): void => {
    client.off('error', onLost);
    client.release(destroy);
  };
  const run: Queryable = {
    query: <R extends Row = Row>(text: string, values: readonly unknown[] = []) =>
      client.query<R>(text, [...values]),
  };
  try {
    await client.query('BEGIN');
    const result = await body(run);
    await client.query('COMMIT');
    done(lost);
    return result;
  } catch (error) {
    let broken: Error | undefined;
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      // The connection is unusable: drop it from the pool (the first error
      // is the one the caller hears about; this one only retires the client).
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    done(broken ?? lost);
    throw mapPgError(error);
  }
}

/**
 * Takes the transaction-scoped advisory lock named `key` (hashed to 64
 * bits): writers of one thing on any node serialize on it until their
 * COMMIT or ROLLBACK.
 */
export async function lockForTransaction(db: Queryable, key: string): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
}

/** Deletes one device's rows from each of `tables` (fixed names, each keyed by account and device_id). */
export async function deleteDeviceRows(
  db: Queryable,
  tables: readonly string[],
  account: string,
  deviceId: number,
): Promise<void> {
  for (const table of tables) {
    await db.query(`DELETE FROM ${table} WHERE account = $1 AND device_id = $2`, [
      account,
      deviceId,
    ]);
  }
}
