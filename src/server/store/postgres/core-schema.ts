/**
 * Migration 1 of the PostgreSQL backend: accounts, devices, signed device
 * lists, removal tombstones, prekeys and subscribers. The same model as the
 * SQLite schema (sqlite/migrations.ts), in PostgreSQL types: ms timestamps
 * and client-chosen ids are BIGINT (a client may pick any 32-bit id), bytes
 * are BYTEA. Shipped migrations are never edited; add the next number.
 */

/** The core tables (unqualified: the connection's search_path names the schema). */
export const CORE_MIGRATION_SQL = `
  CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    -- Device ids are never reused (reserved ones included): a stale
    -- session must never reach a new device.
    next_device_id INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    -- The current ADVSignedKeyIndexList and its signed timestamp (seconds),
    -- kept apart so the rollback check is one conditional UPDATE.
    device_list BYTEA,
    device_list_timestamp BIGINT NOT NULL DEFAULT 0
  );
  CREATE TABLE devices (
    account TEXT NOT NULL REFERENCES accounts (name),
    device_id INTEGER NOT NULL,
    identity_key BYTEA NOT NULL,
    registration_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    key_index BIGINT NOT NULL DEFAULT 0,
    signed_device_identity BYTEA NOT NULL DEFAULT ''::bytea,
    PRIMARY KEY (account, device_id)
  );
  CREATE INDEX devices_by_last_seen ON devices (last_seen_at);
  -- A removed device's tombstone: its later login is told why it is gone.
  CREATE TABLE device_removals (
    account TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    removed_at BIGINT NOT NULL,
    PRIMARY KEY (account, device_id)
  );
  CREATE TABLE signed_pre_keys (
    account TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (account, device_id)
  );
  CREATE TABLE one_time_pre_keys (
    account TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    PRIMARY KEY (account, device_id, key_id)
  );
  -- Accounts watching another account's devices (told on every change).
  CREATE TABLE subscribers (
    account TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    PRIMARY KEY (account, subscriber)
  );
`;
