/**
 * Migration 7: acknowledgements are counted in their own per-device row,
 * `queue_acks`, instead of lowering the device's `queue_heads` row.
 *
 * Why: in a cluster, a device's sender and the device itself are usually on
 * different nodes. Node A's batch enqueues to device R (locks R's head) while
 * node B's batch acks R's envelopes; when both updated the head row, every
 * batch of A waited for B's commit and WAL flush and the other way round, so
 * at one message in flight three nodes ran at 0.58x one. Now an enqueue
 * locks heads only and an ack locks ack rows only: writers of one device on
 * two nodes no longer queue behind each other's commits.
 *
 * Sizes: a device's queue holds `queue_heads.count - queue_acks.count`
 * envelopes (bytes alike). The head's count now only grows with enqueues
 * (and falls with refunds and the TTL sweep, which still take the head), the
 * ack row's only grows with acks, so both are bigint. A bound check locks
 * the head (current value) and reads the ack row without a lock from the
 * statement's snapshot: an ack committing meanwhile is not seen, which can
 * only make the queue look fuller than it is — a send may be refused that a
 * moment later would fit, never one accepted past the bound. Existing data
 * needs no change: the heads hold the current sizes and there are no acks
 * counted yet.
 *
 * The function's byte fields (guids, contents, identities, group ids,
 * shared payloads, acked guids) arrive packed, one bytea each with offsets
 * and lengths (byte-pack.ts), instead of bytea[] sent as hex text; guids
 * are 16 bytes (SERVER_GUID_LENGTH), row k's at k * 16 - 15. Migration 6's
 * function is dropped: its signature differs.
 *
 * Locks: heads (key order), then envelope rows, then ack rows (key order),
 * in every writer. Acks no longer serialise on the head, so two batches
 * deleting envelopes of the same devices take the rows in the order of the
 * ack arrays, which the client sorts by (account, device, seq)
 * (queue-batch.ts); a deadlock the planner might still produce is retried
 * there (the statement is the whole transaction, so a retry is clean).
 */

export const QUEUE_ACKS_MIGRATION_SQL = `
  CREATE TABLE queue_acks (
    account text NOT NULL,
    device_id integer NOT NULL,
    count bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (account, device_id)
  ) WITH (
    -- Updated by every batch acking the device: room for HOT updates.
    fillfactor = 50,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0
  );
  -- Cumulative enqueue counts from now on (see above).
  ALTER TABLE queue_heads ALTER COLUMN count TYPE bigint;

  -- Byte fields now come packed, one bytea each (byte-pack.ts): a new
  -- signature, so the version-6 function goes.
  DROP FUNCTION queue_write_batch(text[], int[], int[], bigint[], int[], bigint[], int[], int[],
    text[], int[], bytea[], text[], int[], int[], bytea[], bigint[], bigint[], bytea[], bytea[],
    int[], int[], int[], bytea[], int[], int[], text[], int[], bigint[], bytea[]);

  CREATE FUNCTION queue_write_batch(
    h_account text[], h_device int[], h_n int[], h_b bigint[],
    o_max_count int[], o_max_bytes bigint[],
    e_op int[], e_head int[], e_account text[], e_device int[], e_guids bytea,
    e_source text[], e_source_device int[], e_type int[],
    e_contents bytea, e_content_off int[], e_content_len int[],
    e_timestamp bigint[], e_server_timestamp bigint[],
    e_identities bytea, e_identity_off int[], e_identity_len int[],
    e_groups bytea, e_group_off int[], e_group_len int[],
    e_payload int[], e_size int[],
    p_op int[], p_contents bytea, p_off int[], p_len int[], p_refs int[],
    a_op int[], a_account text[], a_device int[], a_seq bigint[], a_guids bytea,
    OUT seqs bigint[], OUT refused text[], OUT acked int[])
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
  -- Every row this function reads or writes is found by its key. The
  -- cached generic plans guess 10 rows per array and a small queue table,
  -- and then hash the acks against a sequential scan of queue_envelopes
  -- (dead rows included) instead of one index probe per ack. Off, the plan
  -- takes the ack arrays in their order, the order the deletes lock in.
  SET enable_seqscan = off
  AS $fn$
  DECLARE
    v_ops int := coalesce(array_length(o_max_count, 1), 0);
    v_envs int := coalesce(array_length(e_op, 1), 0);
    v_heads int := coalesce(array_length(h_account, 1), 0);
    v_cnt bigint[];
    v_byt bigint[];
    v_nxt bigint[];
    v_ref_n int[];
    v_ref_b bigint[];
    v_pay bigint[];
    v_freed bigint[];
    v_refunds boolean := false;
    v_i int := 1;
    v_j int;
    v_first int;
    v_op int;
    v_h int;
    v_lim text;
  BEGIN
    seqs := array_fill(NULL::bigint, ARRAY[v_envs]);
    refused := array_fill(NULL::text, ARRAY[v_ops]);
    acked := array_fill(0, ARRAY[v_ops]);

    IF v_heads > 0 THEN
      -- Heads locked in key order; sizes net of the committed acks.
      WITH r AS (
        INSERT INTO queue_heads AS q (account, device_id, last_seq, count, bytes)
          SELECT u.a, u.d, u.n, u.n, u.b
          FROM unnest(h_account, h_device, h_n, h_b) AS u(a, d, n, b)
          ORDER BY u.a, u.d
        ON CONFLICT (account, device_id) DO UPDATE SET
          last_seq = q.last_seq + excluded.last_seq,
          count = q.count + excluded.count,
          bytes = q.bytes + excluded.bytes
        RETURNING q.account, q.device_id, q.last_seq, q.count, q.bytes
      )
      SELECT array_agg(r.count - coalesce(k.count, 0) - t.n ORDER BY t.k),
             array_agg(r.bytes - coalesce(k.bytes, 0) - t.b ORDER BY t.k),
             array_agg(r.last_seq - t.n + 1 ORDER BY t.k)
        INTO v_cnt, v_byt, v_nxt
        FROM r JOIN unnest(h_account, h_device, h_n, h_b) WITH ORDINALITY AS t(a, d, n, b, k)
          ON r.account = t.a AND r.device_id = t.d
        LEFT JOIN queue_acks k ON k.account = t.a AND k.device_id = t.d;
      IF coalesce(array_length(v_cnt, 1), 0) <> v_heads THEN
        RAISE EXCEPTION 'queue_write_batch: duplicate or missing heads';
      END IF;

      v_ref_n := array_fill(0, ARRAY[v_heads]);
      v_ref_b := array_fill(0::bigint, ARRAY[v_heads]);
      -- An op's envelopes are contiguous, ops in submission order.
      WHILE v_i <= v_envs LOOP
        v_op := e_op[v_i];
        v_first := v_i;
        v_lim := NULL;
        WHILE v_i <= v_envs AND e_op[v_i] = v_op LOOP
          v_h := e_head[v_i];
          v_cnt[v_h] := v_cnt[v_h] + 1;
          v_byt[v_h] := v_byt[v_h] + e_size[v_i];
          IF v_lim IS NULL AND o_max_count[v_op] IS NOT NULL THEN
            IF v_cnt[v_h] > o_max_count[v_op] THEN
              v_lim := 'queue-count';
            ELSIF v_byt[v_h] > o_max_bytes[v_op] THEN
              v_lim := 'queue-bytes';
            END IF;
          END IF;
          v_i := v_i + 1;
        END LOOP;
        IF v_lim IS NULL THEN
          FOR v_j IN v_first .. v_i - 1 LOOP
            v_h := e_head[v_j];
            seqs[v_j] := v_nxt[v_h];
            v_nxt[v_h] := v_nxt[v_h] + 1;
          END LOOP;
        ELSE
          refused[v_op] := v_lim;
          v_refunds := true;
          FOR v_j IN v_first .. v_i - 1 LOOP
            v_h := e_head[v_j];
            v_cnt[v_h] := v_cnt[v_h] - 1;
            v_byt[v_h] := v_byt[v_h] - e_size[v_j];
            v_ref_n[v_h] := v_ref_n[v_h] + 1;
            v_ref_b[v_h] := v_ref_b[v_h] + e_size[v_j];
          END LOOP;
        END IF;
      END LOOP;

      IF v_refunds THEN
        UPDATE queue_heads q SET count = q.count - u.n, bytes = q.bytes - u.b
          FROM unnest(h_account, h_device, v_ref_n, v_ref_b) AS u(a, d, n, b)
          WHERE u.n > 0 AND q.account = u.a AND q.device_id = u.d;
      END IF;

      IF coalesce(array_length(p_op, 1), 0) > 0 THEN
        SELECT array_agg(CASE WHEN refused[u.o] IS NULL THEN nextval('queue_payload_ids') END
                         ORDER BY u.k)
          INTO v_pay
          FROM unnest(p_op) WITH ORDINALITY AS u(o, k);
        INSERT INTO queue_payloads (id, content, refs)
          SELECT u.id, substring(p_contents FROM u.o + 1 FOR u.l), u.r
          FROM unnest(v_pay, p_off, p_len, p_refs) AS u(id, o, l, r)
          WHERE u.id IS NOT NULL;
      END IF;

      IF v_envs > 0 THEN
        INSERT INTO queue_envelopes (account, device_id, seq, guid, source, source_device,
            type, content, timestamp, server_timestamp, source_device_identity, group_id,
            payload_id, size)
          SELECT u.a, u.d, u.s,
            overlay(substring(e_guids FROM u.k::int * 16 - 15 FOR 16) PLACING int8send(u.s) FROM 1 FOR 8),
            u.src, u.sd, u.t, substring(e_contents FROM u.co + 1 FOR u.cl), u.ts, u.sts,
            CASE WHEN u.il IS NULL THEN NULL ELSE substring(e_identities FROM u.io + 1 FOR u.il) END,
            CASE WHEN u.gl IS NULL THEN NULL ELSE substring(e_groups FROM u.go + 1 FOR u.gl) END,
            CASE WHEN u.p IS NULL THEN NULL ELSE v_pay[u.p] END, u.sz
          FROM unnest(e_account, e_device, seqs, e_source, e_source_device, e_type,
            e_content_off, e_content_len, e_timestamp, e_server_timestamp,
            e_identity_off, e_identity_len, e_group_off, e_group_len, e_payload, e_size)
            WITH ORDINALITY
            AS u(a, d, s, src, sd, t, co, cl, ts, sts, io, il, go, gl, p, sz, k)
          WHERE u.s IS NOT NULL;
      END IF;
    END IF;

    IF coalesce(array_length(a_op, 1), 0) > 0 THEN
      -- The ack rows are taken in key order, after every envelope row.
      WITH d AS (
        DELETE FROM queue_envelopes e
        USING unnest(a_op, a_account, a_device, a_seq) WITH ORDINALITY AS u(o, a, d, s, k)
        WHERE e.account = u.a AND e.device_id = u.d AND e.seq = u.s
          AND e.guid = substring(a_guids FROM u.k::int * 16 - 15 FOR 16)
        RETURNING u.o, e.account, e.device_id, e.size, e.payload_id
      ), k AS (
        INSERT INTO queue_acks AS q (account, device_id, count, bytes)
          SELECT d.account, d.device_id, count(*), sum(d.size)
          FROM d GROUP BY d.account, d.device_id ORDER BY d.account, d.device_id
        ON CONFLICT (account, device_id) DO UPDATE SET
          count = q.count + excluded.count,
          bytes = q.bytes + excluded.bytes
      ), per_op AS (
        SELECT d.o, count(*)::int AS n FROM d GROUP BY d.o
      )
      SELECT (SELECT array_agg(coalesce(per_op.n, 0) ORDER BY g.o)
                FROM generate_series(1, v_ops) AS g(o) LEFT JOIN per_op ON per_op.o = g.o),
             (SELECT array_agg(d.payload_id) FROM d WHERE d.payload_id IS NOT NULL)
        INTO acked, v_freed;
      IF v_freed IS NOT NULL THEN
        PERFORM 1 FROM queue_payloads p WHERE p.id = ANY (v_freed) ORDER BY p.id FOR UPDATE;
        WITH x AS (
          SELECT u.id, count(*)::int AS n FROM unnest(v_freed) AS u(id) GROUP BY u.id
        ), gone AS (
          DELETE FROM queue_payloads p USING x WHERE p.id = x.id AND p.refs <= x.n
        )
        UPDATE queue_payloads p SET refs = p.refs - x.n FROM x WHERE p.id = x.id AND p.refs > x.n;
      END IF;
    END IF;
  END
  $fn$;
`;
