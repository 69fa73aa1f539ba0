/**
 * `queue_write_batch`: one group-committed batch of the queue (queue-batch.ts)
 * as a single statement, so a batch costs one round trip instead of four
 * (BEGIN, lock heads, insert/delete, COMMIT). At one message in flight per
 * connection the throughput is set by that latency, not by CPU, and the
 * `queue_heads` rows another node's batch may need stay locked for the
 * function's run and the commit only, not across network round trips.
 *
 * Called in autocommit: the statement is its transaction, so a failure
 * anywhere rolls the whole batch back, as before.
 *
 * Steps, as the client-side version did them:
 * 1. one upsert locks (and creates) every head of the batch in key order —
 *    the only order any writer takes them in, so batches cannot deadlock —
 *    adding the enqueued counts, bytes and sequence numbers;
 * 2. walks the enqueue ops in submission order against the locked sizes,
 *    refusing whole ops past their bounds (their share is refunded; their
 *    sequence numbers stay used: a gap paging does not mind), numbering the
 *    accepted envelopes;
 * 3. inserts the accepted ops' shared payloads and envelopes, stamping each
 *    guid's first 8 bytes with its sequence (envelope-guid.ts);
 * 4. deletes the acked envelopes (whole guid and owner must match), lowers
 *    the heads' sizes and releases the payloads they pointed at (locked in
 *    id order, as queue-purge.ts does).
 *
 * Only fixed-width arrays are subscripted in loops; variable-width ones
 * (text, bytea) are read through `unnest`, since subscripting those walks
 * the array from its start.
 */

export const QUEUE_BATCH_MIGRATION_SQL = `
  CREATE FUNCTION queue_write_batch(
    h_account text[], h_device int[], h_n int[], h_b bigint[],
    o_max_count int[], o_max_bytes bigint[],
    e_op int[], e_head int[], e_account text[], e_device int[], e_guid bytea[],
    e_source text[], e_source_device int[], e_type int[], e_content bytea[],
    e_timestamp bigint[], e_server_timestamp bigint[], e_identity bytea[], e_group bytea[],
    e_payload int[], e_size int[],
    p_op int[], p_content bytea[], p_refs int[],
    a_op int[], a_account text[], a_device int[], a_seq bigint[], a_guid bytea[],
    OUT seqs bigint[], OUT refused text[], OUT acked int[])
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
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
    IF v_heads = 0 THEN
      RETURN;
    END IF;

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
    SELECT array_agg((r.count - t.n)::bigint ORDER BY t.k),
           array_agg(r.bytes - t.b ORDER BY t.k),
           array_agg(r.last_seq - t.n + 1 ORDER BY t.k)
      INTO v_cnt, v_byt, v_nxt
      FROM r JOIN unnest(h_account, h_device, h_n, h_b) WITH ORDINALITY AS t(a, d, n, b, k)
        ON r.account = t.a AND r.device_id = t.d;
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
        SELECT u.id, u.c, u.r FROM unnest(v_pay, p_content, p_refs) AS u(id, c, r)
        WHERE u.id IS NOT NULL;
    END IF;

    IF v_envs > 0 THEN
      INSERT INTO queue_envelopes (account, device_id, seq, guid, source, source_device,
          type, content, timestamp, server_timestamp, source_device_identity, group_id,
          payload_id, size)
        SELECT u.a, u.d, u.s, overlay(u.g PLACING int8send(u.s) FROM 1 FOR 8), u.src, u.sd,
          u.t, u.c, u.ts, u.sts, u.idn, u.gid,
          CASE WHEN u.p IS NULL THEN NULL ELSE v_pay[u.p] END, u.sz
        FROM unnest(e_account, e_device, seqs, e_guid, e_source, e_source_device, e_type,
          e_content, e_timestamp, e_server_timestamp, e_identity, e_group, e_payload, e_size)
          AS u(a, d, s, g, src, sd, t, c, ts, sts, idn, gid, p, sz)
        WHERE u.s IS NOT NULL;
    END IF;

    IF coalesce(array_length(a_op, 1), 0) > 0 THEN
      WITH d AS (
        DELETE FROM queue_envelopes e
        USING unnest(a_op, a_account, a_device, a_seq, a_guid) AS u(o, a, d, s, g)
        WHERE e.account = u.a AND e.device_id = u.d AND e.seq = u.s AND e.guid = u.g
        RETURNING u.o, e.account, e.device_id, e.size, e.payload_id
      ), h AS (
        UPDATE queue_heads q SET count = q.count - x.n, bytes = q.bytes - x.b
        FROM (SELECT d.account, d.device_id, count(*)::int AS n, sum(d.size)::bigint AS b
              FROM d GROUP BY d.account, d.device_id) AS x
        WHERE q.account = x.account AND q.device_id = x.device_id
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
