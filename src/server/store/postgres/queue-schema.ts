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
 * tables are nearly all dead tuples between vacuums, and they grow with the
 * traffic rather than the backlog unless something vacuums them often.
 * Autovacuum cannot be relied on for that: it wakes once per
 * `autovacuum_naptime` (60 s by default — a million messages at full speed
 * here) and may be off (it is on the test machine). So the store vacuums
 * the tables itself after every 5000 of its deletes (`PostgresQueueStore`,
 * option `vacuumAfterDeletes`); the per-table settings below only make
 * autovacuum, where it runs, trigger on a fixed number of dead rows rather
 * than 20 % of the table. Truncated partitions were the alternative: a
 * partition empties only when its last envelope is acked or expires, so one
 * offline device keeps a whole partition of dead rows for the TTL.
 *
 * Measured with `npm run bench:queue-bloat` (bench/queue-bloat.ts;
 * PostgreSQL 15, 2 cores shared with other work, ~3000 messages queued at
 * any time, 10 % group fanouts of 3), pg_total_relation_size of the three
 * tables with indexes and TOAST:
 *
 *   after 10,000 messages sent and acked    4.66 MB (run 1) / 4.69 MB (run 2)
 *   after 1,000,000                         4.93 MB (1.06x) / 4.85 MB (1.03x)
 *   every 100,000 in between                1.00x-1.06x (199 vacuums, ~82 s)
 *   without the store's vacuum (autovacuum off), 200,000 messages:
 *                                           107 MB (19x), growing linearly
 */

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
