/**
 * Migration 8: a leaner body for `queue_write_batch`, same signature and
 * same outputs as migration 7's (queue-acks-schema.ts), so nodes of either
 * version can share the schema while a cluster is upgraded one node at a
 * time, and the upgrade touches no data.
 *
 * Why: a batch cost PostgreSQL about the same CPU whatever its size — the
 * cost is per statement and per plan node (executor start-up and
 * tear-down), not per row — and in a cluster every node's batches are
 * smaller, so that fixed cost is paid more often per message. This body
 * runs fewer statements and plan nodes per batch:
 *
 * - the ack step was one statement with two init-plans (a hash join of
 *   `generate_series` against a hash aggregate of the deleted rows for the
 *   per-op counts, and a second scan for the freed payloads). Now one
 *   aggregate over the deleted rows returns which ack rows went and which
 *   payloads they freed, and the per-op counts are summed in the function
 *   body, where an array element costs no executor start-up;
 * - an ack row's op is no longer carried through the DELETE (the function
 *   looks it up by the row's position);
 * - the bound walk is skipped when no op of the batch is bounded, and the
 *   per-envelope walk assigns sequences directly when the batch cannot be
 *   refused (every head's size after the whole batch within every bound
 *   of the ops writing to it: sizes only grow along the walk, so no op
 *   could then be refused);
 * - an ack-only or enqueue-only batch runs only its own statements (as
 *   before).
 *
 * Measured with bench/queue-batch.ts; figures in docs/operations.md
 * ("Capacity, measured").
 *
 * Locks are taken as in migration 7: heads in key order, then envelope rows
 * in the order of the ack arrays (sorted by the caller), then ack rows in
 * key order.
 */

export const QUEUE_LEAN_MIGRATION_SQL = `
  CREATE OR REPLACE FUNCTION queue_write_batch(
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
  -- As in migration 7: every row is found by its key (see there).
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
    v_gone int[];
    v_may_refuse boolean;
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
      -- Heads locked in key order; sizes net of the committed acks. Also
      -- whether any op could be refused: some head past a bound of an op
      -- writing to it once the whole batch is added.
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

      -- Sizes only grow along the walk below, so an op can be refused only
      -- if its heads end past its bounds with every op of the batch added.
      v_may_refuse := false;
      FOR v_j IN 1 .. v_envs LOOP
        v_op := e_op[v_j];
        IF o_max_count[v_op] IS NOT NULL THEN
          v_h := e_head[v_j];
          IF v_cnt[v_h] + h_n[v_h] > o_max_count[v_op]
             OR v_byt[v_h] + h_b[v_h] > o_max_bytes[v_op] THEN
            v_may_refuse := true;
            EXIT;
          END IF;
        END IF;
      END LOOP;

      IF NOT v_may_refuse THEN
        FOR v_j IN 1 .. v_envs LOOP
          v_h := e_head[v_j];
          seqs[v_j] := v_nxt[v_h];
          v_nxt[v_h] := v_nxt[v_h] + 1;
        END LOOP;
      ELSE
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
      -- The ack rows are taken in key order, after every envelope row. One
      -- aggregate says which ack rows deleted an envelope and which
      -- payloads those envelopes held.
      WITH d AS (
        DELETE FROM queue_envelopes e
        USING unnest(a_account, a_device, a_seq) WITH ORDINALITY AS u(a, d, s, k)
        WHERE e.account = u.a AND e.device_id = u.d AND e.seq = u.s
          AND e.guid = substring(a_guids FROM u.k::int * 16 - 15 FOR 16)
        RETURNING u.k, e.account, e.device_id, e.size, e.payload_id
      ), k AS (
        INSERT INTO queue_acks AS q (account, device_id, count, bytes)
          SELECT d.account, d.device_id, count(*), sum(d.size)
          FROM d GROUP BY d.account, d.device_id ORDER BY d.account, d.device_id
        ON CONFLICT (account, device_id) DO UPDATE SET
          count = q.count + excluded.count,
          bytes = q.bytes + excluded.bytes
      )
      SELECT array_agg(d.k::int), array_agg(d.payload_id) FILTER (WHERE d.payload_id IS NOT NULL)
        INTO v_gone, v_freed
        FROM d;
      IF v_gone IS NOT NULL THEN
        FOREACH v_j IN ARRAY v_gone LOOP
          v_op := a_op[v_j];
          acked[v_op] := acked[v_op] + 1;
        END LOOP;
      END IF;
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
