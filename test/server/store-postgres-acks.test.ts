/**
 * Migration 7 of the PostgreSQL queue (queue-acks-schema.ts): acks counted
 * in `queue_acks`, apart from the heads enqueues lock. What it must keep:
 * a schema with queued data upgrades with its sizes intact, the bounds stay
 * exact while two nodes enqueue and ack one device at once, and a removed
 * device's acks do not shrink the queue of a head recreated later.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { migrate, POSTGRES_MIGRATIONS } from '../../src/server/store/postgres/migrations.js';
import { QUEUE_ACKS_MIGRATION_SQL } from '../../src/server/store/postgres/queue-acks-schema.js';
import { QUEUE_BATCH_MIGRATION_SQL } from '../../src/server/store/postgres/queue-batch-schema.js';
import { QUEUE_LEAN_MIGRATION_SQL } from '../../src/server/store/postgres/queue-lean-schema.js';
import { QUEUE_MIGRATION_SQL } from '../../src/server/store/postgres/queue-schema.js';
import { PostgresQueueStore } from '../../src/server/store/postgres/queue.js';
import { StoreError, type NewEnvelope } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { checkProperty } from '../property.js';

const skip = await serviceSkip('postgres');

function envelope(device: number, tag: string): NewEnvelope {
  return {
    destination: 'bob',
    destinationDevice: device,
    source: tag,
    sourceDevice: 1,
    type: 1,
    content: new TextEncoder().encode(tag),
    timestamp: 1,
    serverTimestamp: 5_000,
  };
}

describe('postgres queue: acks apart from the heads (migration 7)', { skip }, () => {
  const schemas: TestSchema[] = [];
  const pools: pg.Pool[] = [];
  const stores: PostgresQueueStore[] = [];

  function openPool(schema: TestSchema): pg.Pool {
    const pool = new pg.Pool({
      connectionString: schema.url,
      // A lock wait the test means to rule out fails it instead of hanging it.
      options: `-c search_path=${schema.name} -c lock_timeout=5000`,
      max: 3,
    });
    pools.push(pool);
    return pool;
  }

  function node(schema: TestSchema): PostgresQueueStore {
    const store = new PostgresQueueStore(openPool(schema));
    stores.push(store);
    return store;
  }

  async function schemaWith(label: string, sql: string): Promise<TestSchema> {
    const schema = await createTestSchema(label);
    schemas.push(schema);
    const pool = openPool(schema);
    await pool.query(sql);
    return schema;
  }

  let current: TestSchema;
  before(async () => {
    current = await schemaWith(
      'acks',
      QUEUE_MIGRATION_SQL +
        QUEUE_BATCH_MIGRATION_SQL +
        QUEUE_ACKS_MIGRATION_SQL +
        QUEUE_LEAN_MIGRATION_SQL,
    );
  });
  after(async () => {
    for (const store of stores) await store.close();
    for (const pool of pools) await pool.end();
    for (const schema of schemas) await schema.drop();
  });

  it('upgrades a version-6 schema with queued data, sizes and sequences intact', async () => {
    const schema = await createTestSchema('acks_upgrade');
    schemas.push(schema);
    const client = new pg.Client({
      connectionString: schema.url,
      options: `-c search_path=${schema.name}`,
    });
    await client.connect();
    try {
      // The schema as the previous release left it: migrations 1-6 applied.
      await client.query(
        `CREATE TABLE schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      );
      for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version <= 6)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
      }
      // Queued by version 6's function (three envelopes), then the third
      // acked as version 6 did it: row deleted, head lowered.
      await client.query(
        `SELECT queue_write_batch(
           ARRAY['bob'], ARRAY[1], ARRAY[3], ARRAY[7]::bigint[], ARRAY[NULL, NULL, NULL]::int[],
           ARRAY[NULL, NULL, NULL]::bigint[], ARRAY[1, 2, 3], ARRAY[1, 1, 1],
           ARRAY['bob', 'bob', 'bob'], ARRAY[1, 1, 1], $1::bytea[], ARRAY['one', 'two', 'x'],
           ARRAY[1, 1, 1], ARRAY[1, 1, 1], ARRAY['one', 'two', 'x']::bytea[],
           ARRAY[1, 1, 1]::bigint[], ARRAY[5000, 5000, 5000]::bigint[],
           ARRAY[NULL, NULL, NULL]::bytea[], ARRAY[NULL, NULL, NULL]::bytea[],
           ARRAY[NULL, NULL, NULL]::int[], ARRAY[3, 3, 1], '{}', '{}', '{}',
           '{}', '{}', '{}', '{}', '{}')`,
        [[1, 2, 3].map(() => Buffer.alloc(16, 9))],
      );
      await client.query('DELETE FROM queue_envelopes WHERE seq = 3');
      await client.query('UPDATE queue_heads SET count = count - 1, bytes = bytes - 1');

      assert.deepEqual(
        await migrate(client, schema.name, 1),
        POSTGRES_MIGRATIONS.filter((x) => x.version > 6).map((x) => x.version),
      );
    } finally {
      await client.end();
    }

    const store = node(schema);
    assert.equal(await store.count('bob', 1), 2);
    assert.equal(await store.queuedBytes('bob', 1), 'one'.length + 'two'.length);
    assert.equal(await store.totalCount(), 2);
    const page = await store.page('bob', 1, 0, 10);
    assert.deepEqual(
      page.envelopes.map((e) => e.source),
      ['one', 'two'],
    );
    // The bound counts the queued data: room for exactly one more of three.
    const bounds = { maxCount: 3, maxBytes: 1_000 };
    const [next] = await store.enqueue([envelope(1, 'new')], bounds);
    await assert.rejects(store.enqueue([envelope(1, 'full')], bounds), (error: unknown) =>
      StoreError.is(error, 'queue-full'),
    );
    // Sequences go on after the old ones: a cursor at the old end sees it.
    assert.equal(next?.source, 'new');
    assert.deepEqual(
      (await store.page('bob', 1, page.cursor, 10)).envelopes.map((e) => e.source),
      ['new'],
    );
    // Acks of the old envelopes free their room.
    const guids = page.envelopes.map((e) => e.guid);
    assert.equal(await store.ack('bob', 1, guids), 2);
    assert.equal(await store.count('bob', 1), 1);
    assert.equal(await store.queuedBytes('bob', 1), 'new'.length);
    assert.equal(await store.totalCount(), 1);
    await store.enqueue([envelope(1, 'a'), envelope(1, 'b')], bounds);
    assert.equal(await store.count('bob', 1), 3);
  });

  it('keeps the bounds exact while two nodes enqueue to and ack one device at once', async () => {
    const senderNode = node(current);
    const deviceNode = node(current);
    const maxCount = 8;
    const bounds = { maxCount, maxBytes: 1_000_000 };
    let device = 100;
    const rounds = fc.array(
      fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 })),
      {
        minLength: 1,
        maxLength: 12,
      },
    );
    await checkProperty(
      fc.asyncProperty(rounds, async (rounds) => {
        device += 1;
        let held: Uint8Array[] = [];
        let accepted = 0;
        let acked = 0;
        for (const [acks, sends] of rounds) {
          // Same instant: the device node acks what it holds while the
          // sender's node tries `sends` one-envelope sends against the bound.
          const toAck = held.slice(0, acks);
          const [deleted, ...outcomes] = await Promise.all([
            deviceNode.ack('bob', device, toAck),
            ...Array.from({ length: sends }, (_, i) =>
              senderNode.enqueue([envelope(device, `s${i}`)], bounds).then(
                (queued) => queued,
                (error: unknown) => {
                  if (!StoreError.is(error, 'queue-full')) throw error;
                  return [];
                },
              ),
            ),
          ]);
          assert.equal(deleted, toAck.length);
          acked += deleted;
          held = held.slice(acks);
          for (const queued of outcomes) for (const e of queued) held.push(e.guid);
          accepted += outcomes.reduce((n, queued) => n + queued.length, 0);
          // Never past the bound, and the counters match the rows.
          const rows = (await deviceNode.page('bob', device, 0, 1000)).envelopes.length;
          assert.ok(rows <= maxCount, `${rows} queued, bound ${maxCount}`);
          assert.equal(rows, accepted - acked);
          assert.equal(await senderNode.count('bob', device), rows);
          assert.equal(await deviceNode.queuedBytes('bob', device), rows * 'sN'.length);
        }
        // With the acks committed, the room they freed is usable to the last slot.
        const room = maxCount - held.length;
        const fill = await Promise.allSettled(
          Array.from({ length: room + 1 }, (_, i) =>
            senderNode.enqueue([envelope(device, `f${i}`)], bounds),
          ),
        );
        assert.equal(fill.filter((o) => o.status === 'fulfilled').length, room);
        assert.equal(await deviceNode.count('bob', device), maxCount);
      }),
      { numRuns: 15 },
    );
  });

  it('forgets a removed device’s acks with its head', async () => {
    // A schema of its own: totalCount sums every device.
    const store = node(
      await schemaWith(
        'acks_purge',
        QUEUE_MIGRATION_SQL +
          QUEUE_BATCH_MIGRATION_SQL +
          QUEUE_ACKS_MIGRATION_SQL +
          QUEUE_LEAN_MIGRATION_SQL,
      ),
    );
    const queued = await store.enqueue([envelope(50, 'a'), envelope(50, 'b')]);
    assert.equal(
      await store.ack(
        'bob',
        50,
        queued.map((e) => e.guid),
      ),
      2,
    );
    await store.enqueue([envelope(50, 'c')]);
    assert.equal(await store.deleteDevice('bob', 50), 1);
    assert.equal(await store.count('bob', 50), 0);
    // A head recreated later starts from nothing: no old acks subtracted.
    await store.enqueue([envelope(50, 'd')]);
    assert.equal(await store.count('bob', 50), 1);
    assert.equal(await store.queuedBytes('bob', 50), 1);
    assert.equal(await store.totalCount(), 1);
  });

  it('lets an enqueue pass while another transaction holds the device’s ack row', async () => {
    const store = node(current);
    const [first] = await store.enqueue([envelope(60, 'first')]);
    assert.ok(first !== undefined);
    await store.ack('bob', 60, [first.guid]);
    const holder = new pg.Client({
      connectionString: current.url,
      options: `-c search_path=${current.name}`,
    });
    await holder.connect();
    try {
      // Another node's ack batch of this device, not yet committed.
      await holder.query('BEGIN');
      await holder.query(
        "UPDATE queue_acks SET count = count WHERE account = 'bob' AND device_id = 60",
      );
      const queued = await store.enqueue([envelope(60, 'second')], {
        maxCount: 1,
        maxBytes: 100,
      });
      assert.equal(queued.length, 1);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
  });
});
