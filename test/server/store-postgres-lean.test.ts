/**
 * Migration 8 of the PostgreSQL queue (queue-lean-schema.ts): the batch
 * function's leaner body. What it must keep: a version-7 schema with queued
 * and acknowledged data upgrades with its sizes and sequences intact; one
 * batch carrying acks of several callers answers each with its own count;
 * an op of a batch that cannot fit is still refused whole (the walk the
 * body skips when nothing can be refused), refunding its share so a later
 * op of the same batch fits.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { migrate, POSTGRES_MIGRATIONS } from '../../src/server/store/postgres/migrations.js';
import { PostgresQueueStore } from '../../src/server/store/postgres/queue.js';
import { StoreError, type NewEnvelope } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';

const skip = await serviceSkip('postgres');

function envelope(device: number, tag: string, content = tag): NewEnvelope {
  return {
    destination: 'bob',
    destinationDevice: device,
    source: tag,
    sourceDevice: 1,
    type: 1,
    content: new TextEncoder().encode(content),
    timestamp: 1,
    serverTimestamp: 5_000,
  };
}

describe('postgres queue: the lean batch function (migration 8)', { skip }, () => {
  const schemas: TestSchema[] = [];
  const pools: pg.Pool[] = [];
  const stores: PostgresQueueStore[] = [];

  function node(schema: TestSchema): PostgresQueueStore {
    const pool = new pg.Pool({
      connectionString: schema.url,
      options: `-c search_path=${schema.name} -c lock_timeout=5000`,
      max: 3,
    });
    pools.push(pool);
    const store = new PostgresQueueStore(pool);
    stores.push(store);
    return store;
  }

  /** A schema at `version`, through the migration runner's own SQL. */
  async function schemaAt(label: string, version: number): Promise<TestSchema> {
    const schema = await createTestSchema(label);
    schemas.push(schema);
    const client = new pg.Client({
      connectionString: schema.url,
      options: `-c search_path=${schema.name}`,
    });
    await client.connect();
    try {
      await client.query(
        `CREATE TABLE schema_migrations (
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      );
      for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version <= version)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
      }
    } finally {
      await client.end();
    }
    return schema;
  }

  async function migrateToLatest(schema: TestSchema): Promise<number[]> {
    const client = new pg.Client({
      connectionString: schema.url,
      options: `-c search_path=${schema.name}`,
    });
    await client.connect();
    try {
      return await migrate(client, schema.name, 1);
    } finally {
      await client.end();
    }
  }

  after(async () => {
    for (const store of stores) await store.close();
    for (const pool of pools) await pool.end();
    for (const schema of schemas) await schema.drop();
  });

  it('upgrades a version-7 schema with queued and acked data, sizes and sequences intact', async () => {
    const schema = await schemaAt('lean_upgrade', 7);
    // Written by version 7's function: three queued, the first acked.
    const old = node(schema);
    const queued = await old.enqueue([envelope(1, 'one'), envelope(1, 'two'), envelope(1, 'x3')]);
    const first = queued[0];
    assert.ok(first !== undefined);
    assert.equal(await old.ack('bob', 1, [first.guid]), 1);
    await old.close();

    assert.deepEqual(
      await migrateToLatest(schema),
      POSTGRES_MIGRATIONS.filter((m) => m.version > 7).map((m) => m.version),
    );

    const store = node(schema);
    assert.equal(await store.count('bob', 1), 2);
    assert.equal(await store.queuedBytes('bob', 1), 'two'.length + 'x3'.length);
    assert.equal(await store.totalCount(), 2);
    const page = await store.page('bob', 1, 0, 10);
    assert.deepEqual(
      page.envelopes.map((e) => e.source),
      ['two', 'x3'],
    );
    // Room for exactly one more of three; its sequence follows the old ones.
    const bounds = { maxCount: 3, maxBytes: 1_000 };
    const [next] = await store.enqueue([envelope(1, 'new')], bounds);
    await assert.rejects(store.enqueue([envelope(1, 'full')], bounds), (error: unknown) =>
      StoreError.is(error, 'queue-full'),
    );
    assert.equal(next?.source, 'new');
    assert.deepEqual(
      (await store.page('bob', 1, page.cursor, 10)).envelopes.map((e) => e.source),
      ['new'],
    );
    // Old envelopes are acked by their old guids.
    assert.equal(
      await store.ack(
        'bob',
        1,
        page.envelopes.map((e) => e.guid),
      ),
      2,
    );
    assert.equal(await store.count('bob', 1), 1);
  });

  it('answers each ack of one batch with its own count', async () => {
    const store = node(await schemaAt('lean_acks', 8));
    const a = await store.enqueue([envelope(1, 'a1'), envelope(1, 'a2'), envelope(1, 'a3')]);
    const b = await store.enqueue([envelope(2, 'b1'), envelope(2, 'b2')]);
    const guids = (list: readonly { guid: Uint8Array }[]): Uint8Array[] => list.map((e) => e.guid);
    const [a1, a2, a3] = guids(a);
    const [b1, b2] = guids(b);
    assert.ok(a1 && a2 && a3 && b1 && b2);
    const unknown = new Uint8Array(b2);
    unknown[15] = (unknown[15] ?? 0) ^ 0xff;
    // Submitted in one turn: one batch, one statement.
    const commitsBefore = store.commits;
    const counts = await Promise.all([
      store.ack('bob', 1, [a3, a1]),
      store.ack('bob', 2, [b2, unknown]),
      store.enqueue([envelope(2, 'b3')]).then(() => -1),
      store.ack('bob', 1, [a1]),
      store.ack('bob', 2, [b1]),
      store.ack('bob', 1, [a2]),
    ]);
    assert.equal(store.commits, commitsBefore + 1);
    // The second ack of a1 finds nothing: the first took it.
    assert.deepEqual(counts, [2, 1, -1, 0, 1, 1]);
    assert.equal(await store.count('bob', 1), 0);
    assert.deepEqual(
      (await store.page('bob', 2, 0, 10)).envelopes.map((e) => e.source),
      ['b3'],
    );
  });

  it('refuses an op of a batch whole past a bound, and fits a later op in its refund', async () => {
    const store = node(await schemaAt('lean_bounds', 8));
    const bounds = { maxCount: 3, maxBytes: 1_000 };
    await store.enqueue([envelope(1, 'q1'), envelope(1, 'q2')], bounds);
    // One batch: the first op would make four (refused, nothing of it kept,
    // not even its envelope for device 2), the second fits in what the
    // first gave back, the third would make four again.
    const outcomes = await Promise.allSettled([
      store.enqueue([envelope(2, 'other'), envelope(1, 'r1'), envelope(1, 'r2')], bounds),
      store.enqueue([envelope(1, 'ok')], bounds),
      store.enqueue([envelope(1, 'late')], bounds),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'fulfilled', 'rejected'],
    );
    for (const o of outcomes) {
      if (o.status === 'rejected') assert.ok(StoreError.is(o.reason, 'queue-full'));
    }
    assert.deepEqual(
      (await store.page('bob', 1, 0, 10)).envelopes.map((e) => e.source),
      ['q1', 'q2', 'ok'],
    );
    assert.equal(await store.count('bob', 1), 3);
    assert.equal(await store.count('bob', 2), 0);
    // Exactly at a bound after the whole batch: nothing is refused.
    const big = { maxCount: 10, maxBytes: 'q1q2ok'.length + 8 };
    const fits = await Promise.all([
      store.enqueue([envelope(3, 'x', 'abcd')], big),
      store.enqueue([envelope(1, 'b1', 'abcd'), envelope(1, 'b2', 'efgh')], big),
    ]);
    assert.deepEqual(
      fits.map((q) => q.length),
      [1, 2],
    );
    assert.equal(await store.queuedBytes('bob', 1), big.maxBytes);
    await assert.rejects(store.enqueue([envelope(1, 'over', 'z')], big), (error: unknown) =>
      StoreError.is(error, 'queue-full'),
    );
  });
});
