/**
 * The PostgreSQL queue and group stores against the real PostgreSQL: the
 * conformance suites' queue and group sections (accounts, prekeys and
 * subscribers come from the memory store until the full PostgreSQL store
 * exists), and what only a shared database can get wrong — two nodes
 * writing one device, a batch whose commit fails, bounded expiry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { GroupAppend, GroupRecord } from '../../src/server/store/group-store.js';
import { GROUPS_MIGRATION_SQL } from '../../src/server/store/postgres/groups-schema.js';
import { PostgresGroupStore } from '../../src/server/store/postgres/groups.js';
import { expireBatch } from '../../src/server/store/postgres/queue-purge.js';
import { QUEUE_ACKS_MIGRATION_SQL } from '../../src/server/store/postgres/queue-acks-schema.js';
import { QUEUE_BATCH_MIGRATION_SQL } from '../../src/server/store/postgres/queue-batch-schema.js';
import { QUEUE_LEAN_MIGRATION_SQL } from '../../src/server/store/postgres/queue-lean-schema.js';
import { QUEUE_MIGRATION_SQL } from '../../src/server/store/postgres/queue-schema.js';
import {
  PostgresQueueStore,
  type PostgresQueueOptions,
} from '../../src/server/store/postgres/queue.js';
import { StoreError, type NewEnvelope, type ServerStore } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { runServerStoreConformance } from './store-conformance.js';
import { runGroupStoreConformance } from './store-conformance-groups.js';

const skip = await serviceSkip('postgres');

function openPool(schema: TestSchema, applicationName: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: schema.url,
    options: `-c search_path=${schema.name}`,
    application_name: applicationName,
    max: 3,
  });
  // An idle client whose backend is terminated errors on the pool; the
  // pool drops it, and the tests that cause this check the outcome.
  pool.on('error', () => undefined);
  return pool;
}

async function migratedSchema(label: string): Promise<TestSchema> {
  const schema = await createTestSchema(label);
  const pool = openPool(schema, 'quintet-migrate');
  try {
    await pool.query(
      QUEUE_MIGRATION_SQL +
        QUEUE_BATCH_MIGRATION_SQL +
        QUEUE_ACKS_MIGRATION_SQL +
        QUEUE_LEAN_MIGRATION_SQL +
        GROUPS_MIGRATION_SQL,
    );
  } finally {
    await pool.end();
  }
  return schema;
}

async function makeStore(): Promise<ServerStore> {
  const schema = await migratedSchema('conf');
  const pool = openPool(schema, 'quintet-conformance');
  const memory = createMemoryStore();
  const queue = new PostgresQueueStore(pool);
  const groups = new PostgresGroupStore(pool);
  return {
    accounts: memory.accounts,
    preKeys: memory.preKeys,
    kemPreKeys: memory.kemPreKeys,
    subscribers: memory.subscribers,
    queue,
    groups,
    close: async () => {
      await queue.close();
      groups.close();
      await memory.close();
      await pool.end();
      await schema.drop();
    },
  };
}

if (skip === undefined) {
  runServerStoreConformance('postgres queue (memory accounts)', makeStore);
  runGroupStoreConformance('postgres groups', makeStore);
}

function envelope(device: number, tag: string, serverTimestamp = 5_000): NewEnvelope {
  return {
    destination: 'bob',
    destinationDevice: device,
    source: tag,
    sourceDevice: 1,
    type: 1,
    content: new TextEncoder().encode(tag),
    timestamp: 1,
    serverTimestamp,
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('postgres queue: two nodes, failed commits, expiry', { skip }, () => {
  let schema: TestSchema;
  const pools: pg.Pool[] = [];
  const stores: PostgresQueueStore[] = [];

  function node(name: string, options: PostgresQueueOptions = {}): PostgresQueueStore {
    const pool = openPool(schema, name);
    pools.push(pool);
    const store = new PostgresQueueStore(pool, options);
    stores.push(store);
    return store;
  }

  before(async () => {
    schema = await migratedSchema('nodes');
  });
  after(async () => {
    for (const store of stores) await store.close();
    for (const pool of pools) await pool.end();
    await schema.drop();
  });

  async function admin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({
      connectionString: schema.url,
      options: `-c search_path=${schema.name}`,
    });
    await client.connect();
    try {
      return await body(client);
    } finally {
      await client.end();
    }
  }

  it('keeps each node’s order for one device, and a cursor reader misses nothing', async () => {
    const a = node('quintet-order-a');
    const b = node('quintet-order-b');
    const reader = node('quintet-order-r');
    const n = 300;
    let writing = true;
    const seen: string[] = [];
    // Pages only forward from its cursor while both nodes write: a sequence
    // that did not follow commit order per device would make it skip rows
    // committed late under a lower number.
    const reading = (async () => {
      let cursor = 0;
      for (;;) {
        const done = !writing;
        const page = await reader.page('bob', 7, cursor, 50);
        for (const e of page.envelopes) seen.push(e.source);
        cursor = page.cursor;
        if (done && page.envelopes.length === 0) return;
        await turn();
      }
    })();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < n; i += 1) {
      writes.push(a.enqueue([envelope(7, `a${i}`)]), b.enqueue([envelope(7, `b${i}`)]));
      if (i % 3 === 0) await turn();
    }
    await Promise.all(writes);
    writing = false;
    await reading;
    assert.equal(new Set(seen).size, 2 * n);
    assert.equal(seen.length, 2 * n);
    for (const prefix of ['a', 'b']) {
      const order = seen.filter((s) => s.startsWith(prefix)).map((s) => Number(s.slice(1)));
      assert.deepEqual(
        order,
        Array.from({ length: n }, (_, i) => i),
      );
    }
    assert.equal(await reader.count('bob', 7), 2 * n);
  });

  it('holds a device’s bound exactly when two nodes fill it at once', async () => {
    const a = node('quintet-bound-a');
    const b = node('quintet-bound-b');
    const bounds = { maxCount: 5, maxBytes: 1_000 };
    const attempts = Array.from({ length: 10 }, (_, i) =>
      (i % 2 === 0 ? a : b).enqueue([envelope(8, `x${i}`)], bounds),
    );
    const outcomes = await Promise.allSettled(attempts);
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && StoreError.is(o.reason, 'queue-full'),
    );
    assert.equal(refused.length, 5);
    assert.equal(await a.count('bob', 8), 5);
    assert.equal((await b.page('bob', 8, 0, 100)).envelopes.length, 5);
  });

  it('counts concurrent acks of the same envelopes from two nodes once', async () => {
    const a = node('quintet-ack-a');
    const b = node('quintet-ack-b');
    const queued = await a.enqueue(Array.from({ length: 60 }, (_, i) => envelope(9, `m${i}`)));
    const guids = queued.map((e) => e.guid);
    // Overlapping halves, acked by both nodes in the same instant, plus a
    // third party acking them as its own device: it owns none of them.
    const [fromA, fromB, stranger] = await Promise.all([
      a.ack('bob', 9, guids.slice(0, 40)),
      b.ack('bob', 9, guids.slice(20)),
      b.ack('bob', 10, guids),
    ]);
    assert.equal(fromA + fromB, 60);
    assert.equal(stranger, 0);
    assert.equal(await a.count('bob', 9), 0);
    assert.equal(await b.queuedBytes('bob', 9), 0);
  });

  it('acks and enqueues of one batch (one statement) both take effect, sizes included', async () => {
    const a = node('quintet-mixed');
    const [first] = await a.enqueue([envelope(21, 'first')]);
    assert.ok(first !== undefined);
    // Same turn: one batch carrying an ack and an enqueue of the same device.
    const [acked, queued] = await Promise.all([
      a.ack('bob', 21, [first.guid]),
      a.enqueue([envelope(21, 'second'), envelope(22, 'other')]),
    ]);
    assert.equal(acked, 1);
    assert.equal(queued.length, 2);
    const page = await a.page('bob', 21, 0, 10);
    assert.deepEqual(
      page.envelopes.map((e) => e.source),
      ['second'],
    );
    assert.equal(await a.count('bob', 21), 1);
    assert.equal(await a.queuedBytes('bob', 21), 'second'.length);
    assert.equal(await a.count('bob', 22), 1);
    // Leave the schema's queue empty for the expiry test.
    for (const e of queued) assert.equal(await a.ack('bob', e.destinationDevice, [e.guid]), 1);
  });

  it('rejects every caller of a batch whose transaction fails, and stores none of it', async () => {
    const a = node('quintet-fail');
    const [kept] = await a.enqueue([envelope(11, 'kept')]);
    assert.ok(kept !== undefined);
    await admin((c) =>
      c.query("ALTER TABLE queue_envelopes ADD CONSTRAINT poison CHECK (source <> 'poison')"),
    );
    try {
      const batch = [
        a.enqueue([envelope(11, 'good1')]),
        a.enqueue([envelope(12, 'good2')], { maxCount: 10, maxBytes: 1_000 }),
        a.enqueue([envelope(11, 'poison')]),
        a.ack('bob', 11, [kept.guid]),
      ];
      const outcomes = await Promise.allSettled(batch);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['rejected', 'rejected', 'rejected', 'rejected'],
      );
    } finally {
      await admin((c) => c.query('ALTER TABLE queue_envelopes DROP CONSTRAINT poison'));
    }
    // Nothing of the batch: not the good envelopes, not their counts, not the ack.
    assert.deepEqual(
      (await a.page('bob', 11, 0, 10)).envelopes.map((e) => e.source),
      ['kept'],
    );
    assert.equal(await a.count('bob', 11), 1);
    assert.equal(await a.count('bob', 12), 0);
    assert.equal(await a.queuedBytes('bob', 12), 0);
    // The store goes on working.
    await a.enqueue([envelope(12, 'later')]);
    assert.equal(await a.count('bob', 12), 1);
  });

  it('rejects a batch with unavailable when its connection is lost mid-transaction', async () => {
    let flush: (() => void) | undefined;
    const a = node('quintet-lost', { scheduleCommit: (f) => (flush = f) });
    const result = await admin(async (c) => {
      // Holds the heads table so the batch's first statement waits, then
      // kills the waiting backend: the loss falls inside the transaction.
      await c.query('BEGIN');
      await c.query('LOCK TABLE queue_heads IN ACCESS EXCLUSIVE MODE');
      const batch = Promise.allSettled([
        a.enqueue([envelope(13, 'lost1')]),
        a.enqueue([envelope(14, 'lost2')]),
      ]);
      flush?.();
      for (;;) {
        // pg_stat_activity is read once per transaction unless cleared.
        await c.query('SELECT pg_stat_clear_snapshot()');
        const killed = await c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'quintet-lost' AND wait_event_type = 'Lock'`,
        );
        if ((killed.rowCount ?? 0) > 0) break;
        await turn();
      }
      await c.query('ROLLBACK');
      return batch;
    });
    for (const outcome of result) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(
        outcome.status === 'rejected' && StoreError.is(outcome.reason, 'unavailable'),
        String(outcome.status === 'rejected' ? outcome.reason : ''),
      );
    }
    const check = node('quintet-lost-check');
    assert.equal(await check.count('bob', 13), 0);
    assert.equal((await check.page('bob', 14, 0, 10)).envelopes.length, 0);
    // The pool replaced the dead connection.
    const next = a.enqueue([envelope(13, 'after')]);
    flush?.();
    await next;
    assert.equal(await check.count('bob', 13), 1);
  });

  it('expires in bounded steps, releasing shared payloads and sizes', async () => {
    const a = node('quintet-expire', { expireBatchSize: 7 });
    const shared = new Uint8Array(30).fill(3);
    const old = Array.from({ length: 20 }, (_, i) => envelope(20 + (i % 3), `old${i}`, 1_000));
    const fanout = [21, 22, 23].map((d) => ({ ...envelope(d, 'fan', 1_000), content: shared }));
    await a.enqueue([...old, ...fanout]);
    await a.enqueue([envelope(21, 'fresh', 9_000)]);
    // One step deletes at most its limit and says whether to go on.
    const pool = pools[pools.length - 1];
    assert.ok(pool !== undefined);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      assert.deepEqual(await expireBatch(client, 2_000, 7), { deleted: 7, more: true });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    assert.equal(await a.expire(2_000), 23);
    assert.equal(await a.count('bob', 21), 1);
    assert.equal(await a.queuedBytes('bob', 21), 'fresh'.length);
    assert.equal(await a.count('bob', 22), 0);
    const payloads = await admin((c) => c.query('SELECT count(*)::int AS n FROM queue_payloads'));
    assert.deepEqual(payloads.rows, [{ n: 0 }]);
  });

  it('vacuums the queue tables itself once enough rows were deleted', async () => {
    const a = node('quintet-vacuum', { vacuumAfterDeletes: 10 });
    const queued = await a.enqueue(Array.from({ length: 30 }, (_, i) => envelope(40, `v${i}`)));
    assert.equal(
      await a.ack(
        'bob',
        40,
        queued.slice(0, 5).map((e) => e.guid),
      ),
      5,
    );
    assert.equal(a.vacuums, 0);
    assert.equal(
      await a.ack(
        'bob',
        40,
        queued.slice(5).map((e) => e.guid),
      ),
      25,
    );
    // The vacuum runs in the background; close waits for it.
    await a.close();
    assert.equal(a.vacuums, 1);
  });

  it('keeps each device’s group ciphertext until its last device acks it', async () => {
    const a = node('quintet-payload');
    const shared = new Uint8Array(12).fill(9);
    const queued = await a.enqueue(
      [31, 32].map((d) => ({ ...envelope(d, 'fan'), content: shared })),
    );
    const [first, second] = queued;
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(await a.ack('bob', 31, [first.guid]), 1);
    assert.deepEqual((await a.page('bob', 32, 0, 10)).envelopes[0]?.content, shared);
    assert.equal(await a.ack('bob', 32, [second.guid]), 1);
    const payloads = await admin((c) => c.query('SELECT count(*)::int AS n FROM queue_payloads'));
    assert.deepEqual(payloads.rows, [{ n: 0 }]);
  });
});

describe('postgres groups: two nodes append at once', { skip }, () => {
  it('lets exactly one of two racing appends of one version win', async () => {
    const schema = await migratedSchema('groups2');
    const pools = [openPool(schema, 'quintet-g1'), openPool(schema, 'quintet-g2')];
    try {
      const [one, two] = pools.map((pool) => new PostgresGroupStore(pool));
      assert.ok(one !== undefined && two !== undefined);
      const id = new Uint8Array(16).fill(4);
      const members = [{ account: 'alice', admin: true }];
      await one.createGroup(id, {
        signedChange: new Uint8Array([0]),
        headHash: new Uint8Array(32),
        members,
      });
      for (let version = 1; version <= 10; version += 1) {
        const change = (tag: number): GroupAppend => ({
          version,
          signedChange: new Uint8Array([version, tag]),
          headHash: new Uint8Array(32).fill(tag),
          members: [...members, { account: `m${tag}`, admin: false }],
        });
        const outcomes: PromiseSettledResult<void>[] = await Promise.allSettled([
          one.appendChange(id, change(1)),
          two.appendChange(id, change(2)),
        ]);
        const won = outcomes.findIndex((o) => o.status === 'fulfilled');
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        const lost = outcomes[1 - won];
        assert.ok(
          lost?.status === 'rejected' && StoreError.is(lost.reason, 'group-version-conflict'),
        );
        const group: GroupRecord | undefined = await two.getGroup(id);
        // The members are the winner's, never a mix.
        assert.deepEqual(
          group?.members.map((m) => m.account),
          ['alice', `m${won + 1}`],
        );
        assert.equal(group?.version, version);
      }
      assert.equal((await one.getChanges(id)).length, 11);
    } finally {
      for (const pool of pools) await pool.end();
      await schema.drop();
    }
  });
});
