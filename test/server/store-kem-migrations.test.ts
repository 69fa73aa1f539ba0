/**
 * The KEM prekey migrations (SQLite 6, PostgreSQL 9): a database as the
 * previous release left it, with accounts and EC prekeys, upgrades with
 * that data intact and then stores and hands out KEM prekeys.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openPostgresStore } from '../../src/server/store/postgres/index.js';
import {
  POSTGRES_MIGRATIONS,
  POSTGRES_SCHEMA_VERSION,
} from '../../src/server/store/postgres/migrations.js';
import { openSqliteStore } from '../../src/server/store/sqlite/index.js';
import { MIGRATIONS } from '../../src/server/store/sqlite/migrations.js';
import type { KemPreKeyRecord, ServerStore } from '../../src/server/store/types.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';

const skip = await serviceSkip('postgres');

const SIGNED = {
  id: 3,
  publicKey: new Uint8Array(33).fill(5),
  signature: new Uint8Array(64).fill(6),
};

function kem(id: number): KemPreKeyRecord {
  const publicKey = new Uint8Array(1569).fill(id);
  publicKey[0] = 0x08;
  return { id, publicKey, signature: new Uint8Array(64).fill(id) };
}

/** What the old schema held is still there, and KEM prekeys work. */
async function checkUpgraded(store: ServerStore): Promise<void> {
  assert.equal((await store.accounts.getDevice('old', 1))?.registrationId, 7);
  assert.deepEqual(await store.preKeys.getSignedPreKey('old', 1), SIGNED);
  assert.equal(await store.preKeys.countOneTimePreKeys('old', 1), 2);
  assert.deepEqual((await store.preKeys.takeOneTimePreKey('old', 1))?.id, 1);
  // Old devices have no KEM prekeys: their bundles stay v3.
  assert.equal(await store.kemPreKeys.countOneTimeKemPreKeys('old', 1), 0);
  assert.equal(await store.kemPreKeys.getLastResortKemPreKey('old', 1), undefined);
  await store.kemPreKeys.addOneTimeKemPreKeys('old', 1, [kem(1), kem(2)], 10);
  await store.kemPreKeys.setLastResortKemPreKey('old', 1, kem(9));
  assert.deepEqual(await store.kemPreKeys.takeOneTimeKemPreKey('old', 1), kem(1));
  assert.deepEqual(await store.kemPreKeys.getLastResortKemPreKey('old', 1), kem(9));
}

describe('KEM prekey migration: sqlite 5 → 6', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quintet-kem-migrate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('upgrades a version-5 database with its accounts and prekeys intact', async () => {
    const path = join(dir, 'v5.db');
    const db = new Database(path);
    db.exec(
      'CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
    );
    for (const migration of MIGRATIONS.filter((m) => m.version <= 5)) {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(
        migration.version,
      );
    }
    db.prepare(
      "INSERT INTO accounts (name, next_device_id, created_at) VALUES ('old', 2, 1)",
    ).run();
    db.prepare(
      "INSERT INTO devices (account, device_id, identity_key, registration_id, name, created_at, last_seen_at) VALUES ('old', 1, ?, 7, 'phone', 1, 2)",
    ).run(Buffer.alloc(33, 1));
    db.prepare("INSERT INTO signed_pre_keys VALUES ('old', 1, 3, ?, ?)").run(
      Buffer.alloc(33, 5),
      Buffer.alloc(64, 6),
    );
    for (const id of [1, 2]) {
      db.prepare("INSERT INTO one_time_pre_keys VALUES ('old', 1, ?, ?)").run(id, Buffer.alloc(33));
    }
    db.close();
    const store = openSqliteStore({ path });
    try {
      await checkUpgraded(store);
    } finally {
      await store.close();
    }
    const reopened = new Database(path);
    const row: unknown = reopened.prepare('SELECT MAX(version) AS v FROM schema_version').get();
    reopened.close();
    assert.deepEqual(row, { v: 6 });
  });
});

describe('KEM prekey migration: postgres 8 → 9', { skip }, () => {
  const schemas: TestSchema[] = [];
  after(async () => {
    for (const schema of schemas) await schema.drop();
  });

  it('upgrades a version-8 schema with its accounts and prekeys intact', async () => {
    const schema = await createTestSchema('kem_upgrade');
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
      for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version <= 8)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
      }
      await client.query(
        "INSERT INTO accounts (name, next_device_id, created_at) VALUES ('old', 2, 1)",
      );
      await client.query(
        `INSERT INTO devices (account, device_id, identity_key, registration_id, name, created_at, last_seen_at)
         VALUES ('old', 1, $1, 7, 'phone', 1, 2)`,
        [Buffer.alloc(33, 1)],
      );
      await client.query("INSERT INTO signed_pre_keys VALUES ('old', 1, 3, $1, $2)", [
        Buffer.alloc(33, 5),
        Buffer.alloc(64, 6),
      ]);
      await client.query(
        "INSERT INTO one_time_pre_keys VALUES ('old', 1, 1, $1), ('old', 1, 2, $1)",
        [Buffer.alloc(33)],
      );
    } finally {
      await client.end();
    }
    const store = await openPostgresStore({ url: schema.url, schema: schema.name, poolSize: 2 });
    try {
      await checkUpgraded(store);
      const versions = await store.pool.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      // 9 and every later migration applied on top of the version-8 schema.
      assert.deepEqual(
        versions.rows.map((r) => r.version),
        Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
      );
      assert.ok(POSTGRES_SCHEMA_VERSION >= 9);
    } finally {
      await store.close();
    }
  });
});
