/**
 * Numbered schema migrations of the PostgreSQL backend and their runner.
 *
 * Every node runs `migrate` at start. The whole run is one transaction that
 * first takes `pg_advisory_xact_lock` on a key derived from the schema name:
 * when N nodes start at once against an empty database, one migrates while
 * the others wait, then find every version applied and do nothing. A crash
 * mid-run rolls everything back (PostgreSQL DDL is transactional), so a
 * database is always at a version some release wrote. Migrations are
 * append-only: never edit one that has shipped, add the next number.
 */
import type pg from 'pg';
import { BLOB_RESERVATIONS_MIGRATION_SQL, BLOBS_MIGRATION_SQL } from './blobs-schema.js';
import { RATE_BUCKETS_MIGRATION_SQL } from './rate-buckets-schema.js';
import { CORE_MIGRATION_SQL } from './core-schema.js';
import { mapPgError } from './errors.js';
import { GROUPS_MIGRATION_SQL } from './groups-schema.js';
import { KEM_PREKEYS_MIGRATION_SQL } from './kem-prekeys-schema.js';
import { LINKS_MIGRATION_SQL } from './links-schema.js';
import { QUEUE_ACKS_MIGRATION_SQL } from './queue-acks-schema.js';
import { QUEUE_BATCH_MIGRATION_SQL } from './queue-batch-schema.js';
import { QUEUE_LEAN_MIGRATION_SQL } from './queue-lean-schema.js';
import { QUEUE_MIGRATION_SQL } from './queue-schema.js';
import { int, type Row } from './rows.js';
import { lockForTransaction } from './sql.js';
import { StoreError } from '../types.js';

/** One schema step. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, in order. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'core: accounts, devices, lists, tombstones, prekeys',
    sql: CORE_MIGRATION_SQL,
  },
  { version: 2, name: 'per-device envelope queues', sql: QUEUE_MIGRATION_SQL },
  { version: 3, name: 'groups and change chains', sql: GROUPS_MIGRATION_SQL },
  { version: 4, name: 'link sessions', sql: LINKS_MIGRATION_SQL },
  { version: 5, name: 'blob store', sql: BLOBS_MIGRATION_SQL },
  { version: 6, name: 'queue batch in one statement', sql: QUEUE_BATCH_MIGRATION_SQL },
  {
    version: 7,
    name: 'queue acks apart from the heads; packed batch bytes',
    sql: QUEUE_ACKS_MIGRATION_SQL,
  },
  {
    version: 8,
    name: 'queue batch with fewer statements and plan nodes',
    sql: QUEUE_LEAN_MIGRATION_SQL,
  },
  { version: 9, name: 'KEM prekeys (PQXDH)', sql: KEM_PREKEYS_MIGRATION_SQL },
  { version: 10, name: 'blob upload quota claims', sql: BLOB_RESERVATIONS_MIGRATION_SQL },
  { version: 11, name: 'rate buckets shared by the nodes', sql: RATE_BUCKETS_MIGRATION_SQL },
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.reduce(
  (max, m) => Math.max(max, m.version),
  0,
);

/** Schema names are spliced into SQL and connection options, so only plain identifiers pass. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Refuses a schema name that is not a plain lower-case identifier. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new StoreError(
      'schema',
      'schema name must be lower-case letters, digits and underscores (at most 63)',
    );
  }
  return schema;
}

/**
 * Creates `schema` if missing and brings it to the latest version; refuses
 * a database from a newer version. `client` must have `schema` as its
 * search_path. Returns the versions this call applied. On a throw the
 * transaction is still open: destroy the client (`release(true)`).
 */
export async function migrate(
  client: pg.ClientBase,
  schema: string,
  now: number,
): Promise<number[]> {
  checkSchemaName(schema);
  const applied: number[] = [];
  try {
    await client.query('BEGIN');
    await lockForTransaction(client, `quintet:migrate:${schema}`);
    // Inside the lock: concurrent CREATE SCHEMA IF NOT EXISTS can still
    // collide on the catalog's unique index. Looked up first because CREATE
    // SCHEMA needs the CREATE privilege on the database even when the schema
    // exists, which a role given only its own schema lacks.
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (found.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version INTEGER PRIMARY KEY,
         name TEXT NOT NULL,
         applied_at BIGINT NOT NULL
       )`,
    );
    const result = await client.query<Row>(
      'SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations',
    );
    const first = result.rows[0];
    const current = first === undefined ? 0 : int(first, 'v');
    if (current > POSTGRES_SCHEMA_VERSION) {
      // Old code on a newer schema could corrupt it; stop instead.
      throw new StoreError(
        'schema',
        `database schema version ${current} is newer than this server (${POSTGRES_SCHEMA_VERSION})`,
      );
    }
    for (const migration of POSTGRES_MIGRATIONS) {
      if (migration.version <= current) continue;
      try {
        await client.query(migration.sql);
      } catch (error) {
        const mapped = mapPgError(error);
        if (mapped instanceof StoreError) throw mapped;
        throw new StoreError('schema', `migration ${migration.version} failed`, { cause: error });
      }
      await client.query(
        'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
        [migration.version, migration.name, now],
      );
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    // No ROLLBACK here: the caller destroys the client on failure, which
    // ends the transaction server-side even when the connection is broken.
    throw mapPgError(error);
  }
}
