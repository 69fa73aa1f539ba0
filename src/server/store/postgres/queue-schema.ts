/**
 * The PostgreSQL tables of the per-device message queues (one migration of
 * the numbered list in migrations.ts). Unqualified names: the runner sets
 * the schema through `search_path`.
 *
 * - `queue_heads`: one row per device ever sent to. `last_seq` numbers the
 *   device's envelopes; `count` and `bytes` are its queue size, so the bound
 *   check on a send reads one row instead of counting the queue. Every batch
 *   that writes a device's queue locks (and updates) this row first, which
 *   serialises writers of one device across nodes: sequence numbers then
 *   follow commit order, and a device paging by cursor never skips an
 *   envelope another node committed late. Never deleted while the device
 *   exists: a restarted sequence would hide new envelopes behind an old
 *   cursor.
 * - `queue_envelopes`: the queue itself, keyed (account, device_id, seq),
 *   which is both the paging order and the ack lookup (the guid carries
 *   seq, envelope-guid.ts). `size` is the content's length (of the shared
 *   payload when there is one), so deletes return the bytes they free.
 * - `queue_payloads`: a group send's ciphertext stored once; `refs` counts
 *   the envelope rows pointing at it.
 *
 * Bloat: acks delete every row soon after it was inserted, so the queue
 * tables are nearly all dead tuples between vacuums. The default trigger
 * (20 % of the table dead) lets a small, busy table run far ahead of its
 * live size; these tables are vacuumed after a fixed number of dead rows
 * instead, without the cost-based throttling that would make a vacuum of a
 * hot table lag behind the deletes. Measured with `npm run
 * bench:queue-bloat` (bench/queue-bloat.ts, PostgreSQL 15, 2 shared cores):
 * see QUEUE_BLOAT_FIGURES below.
 */

/**
 * What bench/queue-bloat.ts measured (pg_total_relation_size of the three
 * tables, indexes and TOAST included) on this schema.
 */
export const QUEUE_BLOAT_FIGURES = 'not yet measured';

export const QUEUE_MIGRATION_SQL = `
  CREATE TABLE queue_heads (
    account text NOT NULL,
    device_id integer NOT NULL,
    last_seq bigint NOT NULL,
    count integer NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (account, device_id)
  ) WITH (
    -- Updated by every batch for its devices: room on the page keeps those
    -- updates HOT (no index entry, pruned in place).
    fillfactor = 50,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0
  );

  CREATE TABLE queue_payloads (
    id bigint PRIMARY KEY,
    content bytea NOT NULL,
    refs integer NOT NULL
  ) WITH (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0
  );
  CREATE SEQUENCE queue_payload_ids AS bigint;

  CREATE TABLE queue_envelopes (
    account text NOT NULL,
    device_id integer NOT NULL,
    seq bigint NOT NULL,
    guid bytea NOT NULL,
    source text NOT NULL,
    source_device integer NOT NULL,
    type integer NOT NULL,
    -- Empty when payload_id points at the shared content.
    content bytea NOT NULL,
    timestamp bigint NOT NULL,
    server_timestamp bigint NOT NULL,
    source_device_identity bytea,
    group_id bytea,
    payload_id bigint,
    size integer NOT NULL,
    PRIMARY KEY (account, device_id, seq)
  ) WITH (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 20000,
    autovacuum_vacuum_cost_delay = 0
  );
  -- The TTL sweep takes the oldest rows first, a bounded number at a time.
  CREATE INDEX queue_envelopes_by_time ON queue_envelopes (server_timestamp);
  -- Contents are ciphertext: compressing them only costs CPU.
  ALTER TABLE queue_envelopes ALTER COLUMN content SET STORAGE EXTERNAL;
  ALTER TABLE queue_payloads ALTER COLUMN content SET STORAGE EXTERNAL;
`;
