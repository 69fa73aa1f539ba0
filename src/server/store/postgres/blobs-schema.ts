/**
 * Tables of the blob store in cluster mode (`PostgresBlobStore`): one row
 * of metadata per complete blob and its bytes in numbered `bytea` chunks
 * of 256 KiB (PostgreSQL stores them out of line, TOAST, and a chunk is a
 * bounded amount of memory on either side). An upload inserts its rows in
 * one transaction that commits only when the whole body arrived, so a cut
 * upload — or a node dying mid-upload — leaves nothing. Times are ms since
 * the epoch from the server's clock, like the other tables.
 */

/** The migration creating the blob tables (idempotent). */
export const BLOBS_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS blobs (
  id text PRIMARY KEY,
  account text NOT NULL,
  kind text NOT NULL,
  size bigint NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_account ON blobs (account, expires_at);
CREATE INDEX IF NOT EXISTS blobs_expiry ON blobs (expires_at);
CREATE TABLE IF NOT EXISTS blob_chunks (
  blob_id text NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (blob_id, seq)
);
-- The bytes are ciphertext: compressing them on the way into TOAST only costs CPU.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
-- One row: the secret signing blob credentials, shared by every node.
CREATE TABLE IF NOT EXISTS blob_credential_key (
  id integer PRIMARY KEY CHECK (id = 1),
  secret bytea NOT NULL
);
`;

/**
 * Upload quota claims (`BlobStore.reserve`): one row per upload in
 * progress, committed before its body is read, so a claim made through
 * one node is counted by every other. The upload's own transaction deletes
 * its row when it inserts the blob; `until` retires the claims of a node
 * that died mid-upload.
 */
export const BLOB_RESERVATIONS_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS blob_reservations (
  id text PRIMARY KEY,
  account text NOT NULL,
  size bigint NOT NULL,
  until bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS blob_reservations_account ON blob_reservations (account, until);
CREATE INDEX IF NOT EXISTS blob_reservations_until ON blob_reservations (until);
`;
