/**
 * `LinkSessionStore` backends: the shared conformance suite against memory
 * and PostgreSQL (two pools on one fresh schema = two nodes), plus what only
 * the database version must show (tokens at rest, expiry rows pruned).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import type { LinkSessionOptions } from '../../src/server/linking/memory-link-sessions.js';
import { MemoryLinkSessionStore } from '../../src/server/linking/memory-link-sessions.js';
import { COMPLETION_GRACE_MS } from '../../src/server/linking/link-sessions.js';
import { linkSessionStoreFor } from '../../src/server/linking/link-session-backend.js';
import { LinkWaiters } from '../../src/server/linking/link-waiters.js';
import { PostgresLinkSessionStore } from '../../src/server/store/postgres/links.js';
import { LINKS_MIGRATION_SQL } from '../../src/server/store/postgres/links-schema.js';
import { StoreError } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { ManualClock } from './helpers/server.js';
import { runLinkSessionConformance } from './link-sessions-conformance.js';

const postgresSkip = await serviceSkip('postgres');

runLinkSessionConformance('memory', (options) => {
  const store = new MemoryLinkSessionStore(options);
  return Promise.resolve({ a: store, b: store, close: () => Promise.resolve() });
});

describe('link waiters of one node', () => {
  /** A memory link store and the waiters of node 'here' on it, on a manual clock. */
  function waitersOnMemory(): {
    clock: ManualClock;
    store: MemoryLinkSessionStore;
    waiters: LinkWaiters;
  } {
    const clock = new ManualClock();
    const store = new MemoryLinkSessionStore({
      clock,
      random: (n) => new Uint8Array(randomBytes(n)),
      refTtlMs: 60_000,
      completeTtlMs: 300_000,
    });
    // Polls are made by hand in these tests (the timer's first would come after an hour).
    const waiters = new LinkWaiters({
      links: store,
      nodeId: 'here',
      clock,
      authTimeoutMs: 10_000,
      logger: pino({ level: 'silent' }),
      pollMs: 3_600_000,
    });
    return { clock, store, waiters };
  }

  it('delivers the pushes filed for its open waiters, with their deadline, once', async () => {
    const { clock, store, waiters } = waitersOnMemory();
    const got = new Map<number, { pushes: number[][]; deadlines: number[] }>();
    const waiter = (id: number) => {
      const seen = { pushes: [] as number[][], deadlines: [] as number[] };
      got.set(id, seen);
      waiters.add(id, {
        sendPush: (bytes) => seen.pushes.push([...bytes]),
        extendAuthDeadline: (ms) => seen.deadlines.push(ms),
      });
    };
    waiter(1);
    waiter(2);
    const approve = async (connectionId: number, push: number) => {
      const { ref } = await store.open({ nodeId: 'here', connectionId });
      await store.approve(
        await store.claim(ref),
        { account: 'a', deviceId: 2, keyIndex: 1, companionIdentityKey: new Uint8Array(33) },
        () => Uint8Array.from([push]),
      );
    };
    await approve(1, 7);
    await approve(2, 8);
    waiters.remove(2);
    clock.advance(1_000);
    assert.equal(await waiters.poll(), 1);
    assert.deepEqual(got.get(1), { pushes: [[7]], deadlines: [299_000 + 10_000] });
    assert.equal(await waiters.poll(), 0);
    assert.deepEqual(got.get(2), { pushes: [], deadlines: [] });
    waiters.close();
  });

  it('takes the filed copy out of the store as soon as the bus delivered the push', async () => {
    const { store, waiters } = waitersOnMemory();
    const sent: number[][] = [];
    waiters.add(1, { sendPush: (bytes) => sent.push([...bytes]), extendAuthDeadline: () => {} });
    const { ref } = await store.open({ nodeId: 'here', connectionId: 1 });
    await store.approve(
      await store.claim(ref),
      { account: 'a', deviceId: 2, keyIndex: 1, companionIdentityKey: new Uint8Array(33) },
      () => Uint8Array.from([7]),
    );
    // Not a waiter here: nothing is taken for it.
    waiters.pushedOverBus(2);
    waiters.pushedOverBus(1);
    await new Promise((resolve) => setImmediate(resolve));
    // The copy went to the connection (which drops it as a repeat of the bus's)
    // and is gone from the store.
    assert.deepEqual(sent, [[7]]);
    assert.deepEqual(await store.takePushes('here', [1]), []);
    waiters.close();
  });
});

function poolOn(schema: TestSchema): pg.Pool {
  return new pg.Pool({
    connectionString: schema.url,
    options: `-c search_path=${schema.name}`,
    max: 4,
  });
}

/** A fresh schema with the link tables, and a pool on it. */
async function linkSchema(): Promise<{ schema: TestSchema; pool: pg.Pool }> {
  const schema = await createTestSchema('links');
  const pool = poolOn(schema);
  await pool.query(LINKS_MIGRATION_SQL);
  return { schema, pool };
}

runLinkSessionConformance(
  'postgres',
  async (options) => {
    const { schema, pool } = await linkSchema();
    const other = poolOn(schema);
    return {
      a: new PostgresLinkSessionStore(pool, options),
      b: new PostgresLinkSessionStore(other, options),
      close: async () => {
        await Promise.all([pool.end(), other.end()]);
        await schema.drop();
      },
    };
  },
  postgresSkip,
);

describe('PostgreSQL link sessions at rest', { skip: postgresSkip }, () => {
  let schema: TestSchema;
  let pool: pg.Pool;
  const clock = new ManualClock();
  const options: LinkSessionOptions = {
    clock,
    random: (n) => new Uint8Array(randomBytes(n)),
    refTtlMs: 60_000,
    completeTtlMs: 300_000,
  };
  before(async () => {
    ({ schema, pool } = await linkSchema());
  });
  after(async () => {
    await pool.end();
    await schema.drop();
  });

  it('keeps only the SHA-256 of a token once its push is taken', async () => {
    const store = new PostgresLinkSessionStore(pool, options);
    const { ref } = await store.open({ nodeId: 'n1', connectionId: 1 });
    const filed = await store.approve(
      await store.claim(ref),
      { account: 'acct', deviceId: 2, keyIndex: 1, companionIdentityKey: new Uint8Array(33) },
      (token) => Uint8Array.from(token),
    );
    await store.takePushes('n1', [1]);
    const { rows } = await pool.query<{ token_hash: Buffer; push: Buffer | null }>(
      'SELECT token_hash, push FROM link_approvals',
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]?.token_hash, createHash('sha256').update(filed.token).digest());
    assert.equal(rows[0]?.push, null);
    const dump = JSON.stringify(
      (await pool.query('SELECT * FROM link_approvals')).rows.map((row: Record<string, unknown>) =>
        Object.values(row).map((v) => (v instanceof Buffer ? v.toString('hex') : String(v))),
      ),
    );
    assert.ok(!dump.includes(Buffer.from(filed.token).toString('hex')));
    // Knowing the hash is not enough to complete.
    await assert.rejects(store.takeApproved(rows[0]?.token_hash ?? new Uint8Array()));
    assert.equal((await store.takeApproved(filed.token)).deviceId, 2);
  });

  it('deletes expired rows of every table when pruning', async () => {
    const store = new PostgresLinkSessionStore(pool, options);
    // What the test before left (a consumed approval) goes first.
    clock.advance(COMPLETION_GRACE_MS);
    await store.prune();
    const { ref } = await store.open({ nodeId: 'n2', connectionId: 1 });
    await store.open({ nodeId: 'n2', connectionId: 2 });
    await store.approve(await store.claim(ref), {
      account: 'p',
      deviceId: 2,
      keyIndex: 1,
      companionIdentityKey: new Uint8Array(33),
    });
    await store.admit('p', [], 4);
    const count = async (table: string): Promise<number> =>
      Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
    assert.deepEqual(
      [await count('link_refs'), await count('link_approvals'), await count('link_admissions')],
      [1, 1, 1],
    );
    clock.advance(300_000);
    assert.equal(await store.prune(), 3);
    assert.deepEqual(
      [await count('link_refs'), await count('link_approvals'), await count('link_admissions')],
      [0, 0, 0],
    );
  });

  it('reports a database it cannot reach as unavailable', async () => {
    const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    try {
      const store = new PostgresLinkSessionStore(dead, options);
      await assert.rejects(store.claim('x'), (error: unknown) =>
        StoreError.is(error, 'unavailable'),
      );
    } finally {
      await dead.end();
    }
  });

  it('is the store a server picks when its store has a PostgreSQL pool', () => {
    assert.ok(linkSessionStoreFor({ pool }, options) instanceof PostgresLinkSessionStore);
    assert.ok(linkSessionStoreFor({}, options) instanceof MemoryLinkSessionStore);
  });
});
