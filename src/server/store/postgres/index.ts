/**
 * The PostgreSQL backend, for cluster mode: every node of a cluster opens
 * one against the same database (and schema) and they share all durable
 * state through it.
 *
 * node-postgres (`pg`) with a `pg.Pool`: statements from concurrent
 * requests run on separate connections, transactions check one client out
 * for their duration. Every pooled connection has the store's schema as its
 * `search_path`, so the SQL never names it and tests can use a schema each.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RandomSource } from '../../../crypto/provider.js';
import { PostgresAccountStore } from './accounts.js';
import { describe, mapPgError } from './errors.js';
import { PostgresGroupStore } from './groups.js';
import { checkSchemaName, migrate } from './migrations.js';
import { PostgresKemPreKeyStore } from './kem-prekeys.js';
import { PostgresPreKeyStore } from './prekeys.js';
import { PostgresQueueStore } from './queue.js';
import { PostgresSubscriberStore } from './subscribers.js';
import type { GroupStore } from '../group-store.js';
import { StoreError, type MessageQueueStore, type ServerStore } from '../types.js';

/** Options of `openPostgresStore`. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (the password is never logged). */
  readonly url: string;
  /** Schema holding the tables, created if missing (default `public`). Lower-case identifier. */
  readonly schema?: string;
  /** Most connections this node opens (default 10). */
  readonly poolSize?: number;
  /** Fills the random half of envelope guids (default: node:crypto). */
  readonly random?: RandomSource;
  /** Runs a batched queue write at the end of the event-loop turn (default `setImmediate`). */
  readonly scheduleCommit?: (flush: () => void) => void;
  /**
   * Hears failures no caller is waiting for (an idle pooled connection
   * dropped, a background flush failed); default: a process warning.
   */
  readonly onError?: (error: unknown) => void;
}

/** A PostgreSQL-backed store, plus what cluster mode needs beside the stores. */
export interface PostgresServerStore extends ServerStore {
  readonly pool: pg.Pool;
  /** The schema the tables live in. */
  readonly schema: string;
  /** Whether the database answers `SELECT 1` within a short timeout; `error` never has the password. */
  health(): Promise<{ ok: boolean; error?: string }>;
  /**
   * Runs `body` while holding the cluster-wide lock `name` (a session
   * advisory lock on a dedicated connection), so one node at a time does
   * it; resolves undefined without running `body` when another node holds
   * the lock. If that connection dies mid-body the lock is gone with it, so
   * bodies must be safe to overlap now and then (sweeps are).
   */
  withLock<T>(name: string, body: () => Promise<T>): Promise<T | undefined>;
  /** Queue batches committed so far (`quintet_store_commits_total`, as the SQLite store). */
  readonly commitCount: () => number;
}

/** Default size of the pool. */
const DEFAULT_POOL_SIZE = 10;
/** How long a request waits for a connection before failing as `unavailable`, ms. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long `health()` waits for `SELECT 1`, ms. */
const HEALTH_TIMEOUT_MS = 2_000;

function defaultOnError(error: unknown): void {
  process.emitWarning(`PostgreSQL store: ${describe(error)}`);
}

/** A queue store may hold batched writes that must reach the database before the pool ends. */
type FlushableQueue = MessageQueueStore & { close?: () => Promise<void> };
/** A group store may refuse calls once closed (it does not own the pool). */
type ClosableGroups = GroupStore & { close?: () => void };

/**
 * Connects, creates the schema if missing, migrates it (once across nodes
 * starting together, see migrations.ts) and returns the stores. Rejects
 * with `StoreError('unavailable')` when the database cannot be reached and
 * `StoreError('schema')` for a database from a newer version.
 */
export async function openPostgresStore(
  options: PostgresStoreOptions,
): Promise<PostgresServerStore> {
  const schema = checkSchemaName(options.schema ?? 'public');
  const onError = options.onError ?? defaultOnError;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // Names the schema too, so an operator (or a test) can tell which
    // deployment a backend in pg_stat_activity belongs to.
    application_name: `quintet/${schema}`.slice(0, 63),
  });
  // An idle pooled connection that dies (server restart, terminated
  // backend) is reported here; without a listener it would crash the node.
  pool.on('error', (error) => onError(mapPgError(error)));
  try {
    const client = await pool.connect();
    // A checked-out client has no pool listener: a connection dying
    // between two statements would otherwise be an unhandled event. The
    // failure also reaches `migrate` through its next statement.
    const onLost = (error: unknown): void => onError(mapPgError(error));
    client.on('error', onLost);
    try {
      await migrate(client, schema, Date.now());
      client.off('error', onLost);
      client.release();
    } catch (error) {
      client.off('error', onLost);
      client.release(true);
      throw error;
    }
  } catch (error) {
    await pool.end();
    throw mapPgError(error);
  }

  const queueStore = new PostgresQueueStore(pool, {
    random: options.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
    scheduleCommit: options.scheduleCommit ?? ((flush) => setImmediate(flush)),
    onError,
  });
  const queue: FlushableQueue = queueStore;
  const groups: ClosableGroups = new PostgresGroupStore(pool);
  let closed = false;

  return {
    pool,
    schema,
    accounts: new PostgresAccountStore(pool),
    preKeys: new PostgresPreKeyStore(pool),
    kemPreKeys: new PostgresKemPreKeyStore(pool),
    queue,
    subscribers: new PostgresSubscriberStore(pool),
    groups,
    health: () => health(pool),
    withLock: (name, body) => withLock(pool, schema, name, body, onError),
    commitCount: () => queueStore.commits,
    close: async () => {
      if (closed) return;
      closed = true;
      groups.close?.();
      try {
        await queue.close?.();
      } finally {
        await pool.end();
      }
    },
  };
}

async function health(pool: pg.Pool): Promise<{ ok: boolean; error?: string }> {
  if (pool.ending || pool.ended) return { ok: false, error: 'store is closed' };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)),
      HEALTH_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([pool.query('SELECT 1'), timeout]);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: describe(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function withLock<T>(
  pool: pg.Pool,
  schema: string,
  name: string,
  body: () => Promise<T>,
  onError: (error: unknown) => void,
): Promise<T | undefined> {
  if (pool.ending || pool.ended) throw new StoreError('closed', 'store is closed');
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapPgError(error);
  }
  // A checked-out client has no pool listener: without this one, the
  // connection dying while the body runs (no query in flight) would be an
  // unhandled 'error' event and end the process. The lock is gone with
  // the session, which is what the operator needs to hear.
  let lost = false;
  const onLost = (error: unknown): void => {
    lost = true;
    onError(mapPgError(error));
  };
  client.on('error', onLost);
  const done = (destroy: boolean): void => {
    client.off('error', onLost);
    client.release(destroy);
  };
  // Session locks belong to the connection: the unlock must go to this
  // same client, never to whichever pooled connection is free.
  const key = `quintet:lock:${schema}:${name}`;
  let acquired: boolean;
  try {
    const result = await client.query<{ ok: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
      [key],
    );
    acquired = result.rows[0]?.ok === true;
  } catch (error) {
    done(true);
    throw mapPgError(error);
  }
  if (!acquired) {
    done(lost);
    return undefined;
  }
  try {
    return await body();
  } finally {
    if (lost) {
      done(true);
    } else {
      try {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
        done(false);
      } catch (error) {
        // Destroying the connection ends the session, which drops the lock.
        done(true);
        if (!lost) onError(mapPgError(error));
      }
    }
  }
}
