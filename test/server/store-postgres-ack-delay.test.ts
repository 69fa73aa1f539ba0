/**
 * The PostgreSQL queue holds acks that have no enqueue in their turn until
 * one comes to travel with (queue.ts, `holdingAcks`), so a node whose
 * devices only receive does not pay a batch per ack. What must hold: held
 * acks go with the next enqueue in one commit; a read of the device, the
 * store closing or the end of their wait sends them; their callers hear
 * only once they committed; a read of the device waits for a batch in
 * flight that carries its acks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/server/store/postgres/migrations.js';
import { PostgresQueueStore } from '../../src/server/store/postgres/queue.js';
import type { NewEnvelope } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';

const skip = await serviceSkip('postgres');

/** Longer than any test runs: a held ack goes only when something sends it. */
const FOREVER_MS = 600_000;

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

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('postgres queue: acks wait for an enqueue to travel with', { skip }, () => {
  let schema: TestSchema;
  const pools: pg.Pool[] = [];
  const stores: PostgresQueueStore[] = [];

  function store(ackDelayMs: number): PostgresQueueStore {
    const pool = new pg.Pool({
      connectionString: schema.url,
      options: `-c search_path=${schema.name}`,
      max: 2,
    });
    pools.push(pool);
    const made = new PostgresQueueStore(pool, { ackDelayMs });
    stores.push(made);
    return made;
  }

  /** Rows of bob's `device` in the table, read past the store. */
  async function rows(device: number): Promise<number> {
    const pool = pools[0];
    assert.ok(pool !== undefined);
    const result = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM queue_envelopes WHERE account = $1 AND device_id = $2',
      ['bob', device],
    );
    return result.rows[0]?.n ?? -1;
  }

  before(async () => {
    schema = await createTestSchema('ackdelay');
    const client = new pg.Client({
      connectionString: schema.url,
      options: `-c search_path=${schema.name}`,
    });
    await client.connect();
    try {
      await migrate(client, schema.name, 1);
    } finally {
      await client.end();
    }
  });
  after(async () => {
    for (const s of stores) await s.close();
    for (const pool of pools) await pool.end();
    await schema.drop();
  });

  it('commits a held ack with the next enqueue, in one batch', async () => {
    const queue = store(FOREVER_MS);
    const [queued] = await queue.enqueue([envelope(1, 'a')]);
    assert.ok(queued !== undefined);
    const commits = queue.commits;
    let heard: number | undefined;
    const acked = queue.ack('bob', 1, [queued.guid]).then((n) => {
      heard = n;
      return n;
    });
    await nextTurn();
    await nextTurn();
    // Held: nothing committed, the caller not answered, the row still there.
    assert.equal(queue.commits, commits);
    assert.equal(heard, undefined);
    assert.equal(await rows(1), 1);
    await queue.enqueue([envelope(2, 'b')]);
    assert.equal(await acked, 1);
    assert.equal(queue.commits, commits + 1);
    assert.equal(await rows(1), 0);
  });

  it('commits held acks before a read of the device', { timeout: 20_000 }, async () => {
    const queue = store(FOREVER_MS);
    const queued = await queue.enqueue([envelope(3, 'a'), envelope(3, 'b')]);
    const first = queued[0];
    assert.ok(first !== undefined);
    const acked = queue.ack('bob', 3, [first.guid]);
    await nextTurn();
    assert.equal(await queue.count('bob', 3), 1);
    assert.deepEqual(
      (await queue.page('bob', 3, 0, 10)).envelopes.map((e) => e.source),
      ['b'],
    );
    assert.equal(await acked, 1);
  });

  it('commits held acks when the store closes', { timeout: 20_000 }, async () => {
    const queue = store(FOREVER_MS);
    const [queued] = await queue.enqueue([envelope(4, 'a')]);
    assert.ok(queued !== undefined);
    const acked = queue.ack('bob', 4, [queued.guid]);
    await nextTurn();
    await queue.close();
    assert.equal(await acked, 1);
    assert.equal(await rows(4), 0);
  });

  it('commits held acks on their own once their wait ends', { timeout: 20_000 }, async () => {
    const queue = store(1);
    const [queued] = await queue.enqueue([envelope(5, 'a')]);
    assert.ok(queued !== undefined);
    assert.equal(await queue.ack('bob', 5, [queued.guid]), 1);
    assert.equal(await rows(5), 0);
  });

  it(
    'commits acks at the end of their turn, with no timer, when the wait is 0',
    { timeout: 20_000 },
    async (t) => {
      const queue = store(0);
      const [queued] = await queue.enqueue([envelope(6, 'a')]);
      assert.ok(queued !== undefined);
      const commits = queue.commits;
      // Timers stand still: an ack held for one would never be answered.
      t.mock.timers.enable({ apis: ['setTimeout'] });
      try {
        assert.equal(await queue.ack('bob', 6, [queued.guid]), 1);
      } finally {
        t.mock.timers.reset();
      }
      assert.equal(queue.commits, commits + 1);
    },
  );

  it(
    'makes a read of the device wait for a batch in flight carrying its acks',
    { timeout: 20_000 },
    async () => {
      const queue = store(0);
      const queued = await queue.enqueue([envelope(7, 'a'), envelope(7, 'b')]);
      const first = queued[0];
      assert.ok(first !== undefined);
      // Another session holds the device's ack row: the batch deleting
      // 'a' starts, then waits on that lock — in flight, not committed.
      const blocker = new pg.Client({
        connectionString: schema.url,
        options: `-c search_path=${schema.name}`,
      });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(
          `INSERT INTO queue_acks (account, device_id, count, bytes) VALUES ('bob', 7, 0, 0)
           ON CONFLICT (account, device_id) DO UPDATE SET count = queue_acks.count`,
        );
        const acked = queue.ack('bob', 7, [first.guid]);
        await nextTurn();
        let paged: string[] | undefined;
        const read = queue.page('bob', 7, 0, 10).then((page) => {
          paged = page.envelopes.map((e) => e.source);
        });
        // Long enough for a read that did not wait to have come back.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(paged, undefined, 'the read waits for the ack in flight');
        await blocker.query('COMMIT');
        await read;
        assert.deepEqual(paged, ['b']);
        assert.equal(await acked, 1);
      } finally {
        await blocker.end();
      }
    },
  );
});
