/**
 * The PostgreSQL backend: the shared conformance suites, then what only a
 * shared database has — nodes migrating at once, cluster-wide locks,
 * prekey takes from two nodes, and connection loss. Every store gets a
 * fresh schema, dropped after. Skips (saying why) without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { isConnectionError, mapPgError } from '../../src/server/store/postgres/errors.js';
import {
  openPostgresStore,
  type PostgresServerStore,
} from '../../src/server/store/postgres/index.js';
import { POSTGRES_SCHEMA_VERSION } from '../../src/server/store/postgres/migrations.js';
import { StoreError } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { runServerStoreConformance } from './store-conformance.js';
import { runDeviceStoreConformance } from './store-conformance-devices.js';
import { runGroupStoreConformance } from './store-conformance-groups.js';

const skip = await serviceSkip('postgres');

const schemas: TestSchema[] = [];
after(async () => {
  for (const schema of schemas) await schema.drop();
});

async function freshSchema(label: string): Promise<TestSchema> {
  const schema = await createTestSchema(label);
  schemas.push(schema);
  return schema;
}

async function freshStore(label: string): Promise<PostgresServerStore> {
  const schema = await freshSchema(label);
  return openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 4 });
}

async function admin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const schema = schemas[0];
  if (schema === undefined) throw new Error('no schema yet');
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

function device(fill: number) {
  return {
    identityKey: new Uint8Array(33).fill(fill),
    registrationId: fill,
    name: `d${fill}`,
    createdAt: 1,
  };
}

describe('postgres store', { skip }, () => {
  runServerStoreConformance('postgres', () => freshStore('conf'));
  runDeviceStoreConformance('postgres', () => freshStore('dev'));
  runGroupStoreConformance('postgres', () => freshStore('grp'));

  describe('postgres backend specifics', () => {
    it('migrates once when five nodes open one missing schema at once', async () => {
      const schema = await freshSchema('mig');
      // Start from nothing: the schema itself must be created (once).
      await admin((c) => c.query(`DROP SCHEMA "${schema.name}" CASCADE`));
      const stores = await Promise.all(
        Array.from({ length: 5 }, () =>
          openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 2 }),
        ),
      );
      try {
        const rows = await admin((c) =>
          c.query<{ version: number }>(
            `SELECT version FROM "${schema.name}".schema_migrations ORDER BY version`,
          ),
        );
        assert.deepEqual(
          rows.rows.map((r) => r.version),
          Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
        );
        const [first, second] = stores;
        assert.ok(first !== undefined && second !== undefined);
        await first.accounts.createAccount('alice', device(1));
        assert.equal((await second.accounts.getDevice('alice', 1))?.registrationId, 1);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('refuses a database from a newer schema version', async () => {
      const store = await freshStore('newer');
      await store.pool.query(
        'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)',
        [POSTGRES_SCHEMA_VERSION + 1, 'from the future'],
      );
      await store.close();
      await assert.rejects(
        openPostgresStore({ url: store.pool.options.connectionString ?? '', schema: store.schema }),
        (error: unknown) => StoreError.is(error, 'schema'),
      );
    });

    it('lets one node at a time hold a named lock', async () => {
      const schema = await freshSchema('lock');
      const a = await openPostgresStore({ url: schema.url, schema: schema.name });
      const b = await openPostgresStore({ url: schema.url, schema: schema.name });
      let release = (): void => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      try {
        let entered = (): void => undefined;
        const inside = new Promise<void>((resolve) => {
          entered = resolve;
        });
        const held = a.withLock('sweep', async () => {
          entered();
          await gate;
          return 'a';
        });
        await inside;
        assert.equal(await b.withLock('sweep', () => Promise.resolve('b')), undefined);
        // Other names are other locks.
        assert.equal(await b.withLock('other', () => Promise.resolve('b')), 'b');
        release();
        assert.equal(await held, 'a');
        assert.equal(await b.withLock('sweep', () => Promise.resolve('b')), 'b');
      } finally {
        // Let a's body end even when an assertion failed, or close would wait for it.
        release();
        await a.close();
        await b.close();
      }
    });

    it('never hands one one-time prekey to two nodes', async () => {
      const schema = await freshSchema('otpk');
      const a = await openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 8 });
      const b = await openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 8 });
      try {
        const keys = Array.from({ length: 40 }, (_, i) => ({
          id: i + 1,
          publicKey: new Uint8Array(33).fill(i),
        }));
        await a.preKeys.addOneTimePreKeys('alice', 1, keys, 100);
        // Each node takes for two devices' worth of callers, so takes on
        // both nodes overlap on many connections.
        const takes = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 === 0 ? a : b).preKeys.takeOneTimePreKey('alice', 1),
          ),
        );
        const ids = takes.flatMap((k) => (k === undefined ? [] : [k.id]));
        assert.equal(new Set(ids).size, ids.length, 'a key was handed out twice');
        assert.equal(ids.length, 40, 'every key is handed out while takes remain');
        assert.equal(await b.preKeys.countOneTimePreKeys('alice', 1), 0);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('never hands one one-time KEM prekey to two nodes', async () => {
      const schema = await freshSchema('kemotpk');
      const a = await openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 8 });
      const b = await openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 8 });
      try {
        const keys = Array.from({ length: 40 }, (_, i) => ({
          id: i + 1,
          publicKey: new Uint8Array(1569).fill(i),
          signature: new Uint8Array(64).fill(i),
        }));
        await a.kemPreKeys.addOneTimeKemPreKeys('alice', 1, keys, 100);
        await a.kemPreKeys.setLastResortKemPreKey('alice', 1, {
          id: 500,
          publicKey: new Uint8Array(1569),
          signature: new Uint8Array(64),
        });
        const takes = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 === 0 ? a : b).kemPreKeys.takeOneTimeKemPreKey('alice', 1),
          ),
        );
        const ids = takes.flatMap((k) => (k === undefined ? [] : [k.id]));
        assert.equal(new Set(ids).size, ids.length, 'a KEM key was handed out twice');
        assert.equal(ids.length, 40, 'every KEM key is handed out while takes remain');
        assert.equal(await b.kemPreKeys.countOneTimeKemPreKeys('alice', 1), 0);
        assert.equal((await b.kemPreKeys.getLastResortKemPreKey('alice', 1))?.id, 500);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('survives losing the lock connection mid-body, and frees the lock with it', async () => {
      const schema = await freshSchema('lost');
      const heard: unknown[] = [];
      const a = await openPostgresStore({
        url: schema.url,
        schema: schema.name,
        onError: (error) => heard.push(error),
      });
      const b = await openPostgresStore({ url: schema.url, schema: schema.name });
      try {
        const result = await a.withLock('sweep', async () => {
          // The lock holder is the one backend with an advisory lock granted.
          await admin((c) =>
            c.query(
              `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
               JOIN pg_stat_activity s ON s.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND s.application_name = $1`,
              [`quintet/${schema.name}`],
            ),
          );
          // Wait (by polling, not by time) for the node to notice.
          while (heard.length === 0) await new Promise((resolve) => setImmediate(resolve));
          return 'done';
        });
        assert.equal(result, 'done');
        assert.ok(
          heard.every((error) => StoreError.is(error, 'unavailable')),
          String(heard),
        );
        assert.equal(await b.withLock('sweep', () => Promise.resolve('b')), 'b');
        // The node goes on working on fresh connections.
        assert.deepEqual(await a.health(), { ok: true });
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('reports health, and not after close', async () => {
      const store = await freshStore('health');
      assert.deepEqual(await store.health(), { ok: true });
      await store.close();
      assert.equal((await store.health()).ok, false);
    });

    it('fails to open with unavailable, without the password, when nothing listens', async () => {
      await assert.rejects(
        openPostgresStore({ url: 'postgres://postgres:sekrit-pw@127.0.0.1:1/test' }),
        (error: unknown) =>
          StoreError.is(error, 'unavailable') && !String(error.message).includes('sekrit-pw'),
      );
    });

    it('fails a request with unavailable when its backend is terminated, then recovers', async () => {
      const store = await freshStore('kill');
      try {
        await store.accounts.createAccount('alice', device(1));
        const appName = `quintet/${store.schema}`;
        // Hold alice's row so the store's update waits on it, mid-request.
        const blocker = new pg.Client({ connectionString: urlOf(store) });
        await blocker.connect();
        try {
          await blocker.query('BEGIN');
          await blocker.query(
            `SELECT 1 FROM "${store.schema}".accounts WHERE name = 'alice' FOR UPDATE`,
          );
          // Its failure is awaited below; the check is attached now so the
          // rejection is never unhandled in between.
          const failed = assert.rejects(
            store.accounts.setDeviceList('alice', {
              signedList: new Uint8Array(8),
              timestamp: 9,
            }),
            (error: unknown) => StoreError.is(error, 'unavailable'),
          );
          // Wait (by polling, not by time) until the store's backend is blocked.
          for (;;) {
            const waiting = await blocker.query(
              `SELECT 1 FROM pg_stat_activity WHERE application_name = $1
               AND wait_event_type = 'Lock'`,
              [appName],
            );
            if ((waiting.rowCount ?? 0) > 0) break;
            await new Promise((resolve) => setImmediate(resolve));
          }
          await blocker.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
            [appName],
          );
          await failed;
          await blocker.query('ROLLBACK');
        } finally {
          await blocker.end();
        }
        // The pool replaces the dead connections by itself.
        await store.accounts.setDeviceList('alice', {
          signedList: new Uint8Array(8),
          timestamp: 9,
        });
        assert.equal((await store.accounts.getDeviceList('alice'))?.timestamp, 9);
      } finally {
        await store.close();
      }
    });
  });
});

function urlOf(store: PostgresServerStore): string {
  return store.pool.options.connectionString ?? '';
}

describe('postgres error mapping', () => {
  const withCode = (code: string, message = 'x'): Error =>
    Object.assign(new Error(message), { code });

  it('maps connection loss and shutdowns to unavailable', () => {
    for (const error of [
      withCode('ECONNREFUSED'),
      withCode('ECONNRESET'),
      withCode('57P01'),
      withCode('57P03'),
      withCode('08006'),
      withCode('53300'),
      new Error('Connection terminated unexpectedly'),
      new AggregateError([withCode('ECONNREFUSED')]),
    ]) {
      assert.ok(isConnectionError(error), String(error));
      assert.ok(StoreError.is(mapPgError(error), 'unavailable'));
    }
  });

  it('maps a full disk to storage-full and leaves other failures alone', () => {
    assert.ok(StoreError.is(mapPgError(withCode('53100')), 'storage-full'));
    const unique = withCode('23505');
    assert.equal(mapPgError(unique), unique);
    const syntax = withCode('42601');
    assert.equal(mapPgError(syntax), syntax);
  });
});
