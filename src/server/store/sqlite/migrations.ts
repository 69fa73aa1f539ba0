/**
 * Numbered schema migrations for the SQLite backend. The applied version is
 * kept in `schema_version`; each migration runs in its own transaction, so a
 * crash mid-upgrade leaves the previous version intact. Migrations are
 * append-only: never edit one that has shipped, add the next number.
 */
import type { Database } from 'better-sqlite3';
import { StoreError } from '../types.js';

/** One schema step. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'accounts, devices, prekeys, per-device envelope queues',
    sql: `
      CREATE TABLE accounts (
        name TEXT PRIMARY KEY NOT NULL,
        -- Device ids are never reused: a stale session must not reach a new device.
        next_device_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE devices (
        account TEXT NOT NULL REFERENCES accounts(name),
        device_id INTEGER NOT NULL,
        identity_key BLOB NOT NULL,
        registration_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        PRIMARY KEY (account, device_id)
      );
      CREATE TABLE signed_pre_keys (
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (account, device_id)
      );
      CREATE TABLE one_time_pre_keys (
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        PRIMARY KEY (account, device_id, key_id)
      );
      -- seq (the rowid) orders each device's queue; new rows always get a
      -- larger rowid than every live row, which is all ordering needs.
      CREATE TABLE envelopes (
        seq INTEGER PRIMARY KEY,
        guid BLOB NOT NULL UNIQUE,
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        source TEXT NOT NULL,
        source_device INTEGER NOT NULL,
        type INTEGER NOT NULL,
        content BLOB NOT NULL,
        timestamp INTEGER NOT NULL,
        server_timestamp INTEGER NOT NULL
      );
      CREATE INDEX envelopes_by_device ON envelopes (account, device_id, seq);
    `,
  },
  {
    version: 2,
    description: 'multi-device: signed device lists, companion identities, tombstones, subscribers',
    sql: `
      -- The account's current ADVSignedKeyIndexList and its signed timestamp
      -- (seconds), kept apart so the rollback check needs no parsing.
      ALTER TABLE accounts ADD COLUMN device_list BLOB;
      ALTER TABLE accounts ADD COLUMN device_list_timestamp INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE devices ADD COLUMN key_index INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE devices ADD COLUMN signed_device_identity BLOB NOT NULL DEFAULT x'';
      -- A removed device's tombstone: its later login is told why it is gone.
      CREATE TABLE device_removals (
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        reason TEXT NOT NULL,
        removed_at INTEGER NOT NULL,
        PRIMARY KEY (account, device_id)
      ) WITHOUT ROWID;
      -- Accounts watching another account's devices (told on every change).
      CREATE TABLE subscribers (
        account TEXT NOT NULL,
        subscriber TEXT NOT NULL,
        PRIMARY KEY (account, subscriber)
      ) WITHOUT ROWID;
      ALTER TABLE envelopes ADD COLUMN source_device_identity BLOB;
      CREATE INDEX devices_by_last_seen ON devices (last_seen_at);
    `,
  },
  {
    version: 3,
    description: 'groups: signed change chains, memberships, group id on queued envelopes',
    sql: `
      CREATE TABLE groups (
        group_id BLOB PRIMARY KEY NOT NULL,
        version INTEGER NOT NULL,
        head_hash BLOB NOT NULL,
        -- The account the head change removed: it may still read the chain.
        removed TEXT
      ) WITHOUT ROWID;
      -- Kept byte for byte: members verify signatures and hashes over them.
      CREATE TABLE group_changes (
        group_id BLOB NOT NULL,
        version INTEGER NOT NULL,
        signed_change BLOB NOT NULL,
        PRIMARY KEY (group_id, version)
      ) WITHOUT ROWID;
      CREATE TABLE group_members (
        group_id BLOB NOT NULL,
        account TEXT NOT NULL,
        admin INTEGER NOT NULL,
        PRIMARY KEY (group_id, account)
      ) WITHOUT ROWID;
      CREATE INDEX group_members_by_account ON group_members (account, group_id);
      ALTER TABLE envelopes ADD COLUMN group_id BLOB;
    `,
  },
  {
    version: 4,
    description: 'envelope guids carry the row id; no unique index on guid',
    sql: `
      -- Guids are now the row's seq (8 bytes, big-endian) and 8 random
      -- bytes, so an ack deletes by primary key and the unique index on
      -- guid, written on every send and every ack, goes. Envelopes queued
      -- before keep their random guids, marked legacy_guid = 1 and found
      -- through a partial index until they are acked or expire.
      CREATE TABLE envelopes_v4 (
        seq INTEGER PRIMARY KEY,
        guid BLOB NOT NULL,
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        source TEXT NOT NULL,
        source_device INTEGER NOT NULL,
        type INTEGER NOT NULL,
        content BLOB NOT NULL,
        timestamp INTEGER NOT NULL,
        server_timestamp INTEGER NOT NULL,
        source_device_identity BLOB,
        group_id BLOB,
        legacy_guid INTEGER
      );
      INSERT INTO envelopes_v4 (seq, guid, account, device_id, source, source_device, type,
          content, timestamp, server_timestamp, source_device_identity, group_id, legacy_guid)
        SELECT seq, guid, account, device_id, source, source_device, type, content, timestamp,
          server_timestamp, source_device_identity, group_id, 1
        FROM envelopes;
      DROP TABLE envelopes;
      ALTER TABLE envelopes_v4 RENAME TO envelopes;
      CREATE INDEX envelopes_by_device ON envelopes (account, device_id, seq);
      CREATE INDEX envelopes_legacy_guid ON envelopes (guid) WHERE legacy_guid IS NOT NULL;
    `,
  },
  {
    version: 5,
    description: 'group sends store their ciphertext once: shared payloads',
    sql: `
      -- One row per group-send ciphertext; every member device's envelope
      -- row points at it (payload_id) with an empty content of its own.
      -- refs counts those rows; the last one deleted deletes the payload.
      CREATE TABLE payloads (
        id INTEGER PRIMARY KEY,
        content BLOB NOT NULL,
        refs INTEGER NOT NULL
      );
      -- Envelopes queued before keep their content inline (payload_id NULL)
      -- and read and ack exactly as before. payload_size is the shared
      -- content's length, so an ack knows the bytes it frees without a join.
      ALTER TABLE envelopes ADD COLUMN payload_id INTEGER;
      ALTER TABLE envelopes ADD COLUMN payload_size INTEGER;
      -- Every way an envelope row goes (ack, expiry, device removal) releases
      -- its payload, in the same transaction.
      CREATE TRIGGER envelopes_release_payload AFTER DELETE ON envelopes
        WHEN old.payload_id IS NOT NULL
      BEGIN
        UPDATE payloads SET refs = refs - 1 WHERE id = old.payload_id;
        DELETE FROM payloads WHERE id = old.payload_id AND refs <= 0;
      END;
    `,
  },
  {
    version: 6,
    description: 'KEM prekeys (PQXDH): one-time and last-resort, signed',
    sql: `
      -- As signed_pre_keys / one_time_pre_keys, for KEM public keys (type
      -- byte and key) with the identity key's signature over them.
      CREATE TABLE kem_last_resort_pre_keys (
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (account, device_id)
      ) WITHOUT ROWID;
      CREATE TABLE kem_one_time_pre_keys (
        account TEXT NOT NULL,
        device_id INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (account, device_id, key_id)
      ) WITHOUT ROWID;
    `,
  },
];

/** The schema version this code writes. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/** Brings `db` to the latest version; refuses a database from a newer version. */
export function migrate(db: Database, now: number): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  const row: unknown = db.prepare('SELECT MAX(version) AS v FROM schema_version').get();
  const raw = typeof row === 'object' && row !== null && 'v' in row ? row.v : null;
  const current = typeof raw === 'number' ? raw : 0;
  if (current > LATEST_SCHEMA_VERSION) {
    // Running old code on a newer database could corrupt it; stop instead.
    throw new StoreError(
      'schema',
      `database schema version ${current} is newer than this server (${LATEST_SCHEMA_VERSION})`,
    );
  }
  const record = db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)');
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(migration.sql);
        record.run(migration.version, now);
      })();
    } catch (error) {
      throw new StoreError('schema', `migration ${migration.version} failed`, { cause: error });
    }
  }
  return LATEST_SCHEMA_VERSION;
}
