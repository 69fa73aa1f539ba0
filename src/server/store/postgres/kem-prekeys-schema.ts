/**
 * Migration 9 of the PostgreSQL backend: KEM prekeys for PQXDH, as the
 * signed and one-time prekey tables of migration 1 (BIGINT ids, since a
 * client may pick any 32-bit id), each key kept with the identity key's
 * signature over it. Shipped migrations are never edited; add the next number.
 */

/** The KEM prekey tables (unqualified: the connection's search_path names the schema). */
export const KEM_PREKEYS_MIGRATION_SQL = `
  CREATE TABLE kem_last_resort_pre_keys (
    account TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (account, device_id)
  );
  CREATE TABLE kem_one_time_pre_keys (
    account TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (account, device_id, key_id)
  );
`;
