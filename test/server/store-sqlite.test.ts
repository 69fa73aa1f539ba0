import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/server/store/sqlite/index.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/server/store/sqlite/migrations.js';
import { StoreError } from '../../src/server/store/types.js';
import { runServerStoreConformance } from './store-conformance.js';
import { runDeviceStoreConformance } from './store-conformance-devices.js';

const dir = mkdtempSync(join(tmpdir(), 'quintet-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runServerStoreConformance('sqlite (file, WAL)', () =>
  openSqliteStore({ path: join(dir, `conformance-${n++}.db`) }),
);

runDeviceStoreConformance('sqlite (file, WAL)', () =>
  openSqliteStore({ path: join(dir, `conformance-${n++}.db`) }),
);

describe('sqlite backend specifics', () => {
  it('keeps data across reopen and records the schema version', async () => {
    const path = join(dir, 'reopen.db');
    const first = openSqliteStore({ path });
    await first.accounts.createAccount('alice', {
      identityKey: new Uint8Array(33).fill(1),
      registrationId: 7,
      name: 'phone',
      createdAt: 1,
    });
    await first.close();
    const second = openSqliteStore({ path });
    assert.equal((await second.accounts.getDevice('alice', 1))?.registrationId, 7);
    await second.close();
    const db = new Database(path);
    const row: unknown = db.prepare('SELECT MAX(version) AS v FROM schema_version').get();
    db.close();
    assert.deepEqual(row, { v: LATEST_SCHEMA_VERSION });
  });

  it('refuses a database from a newer schema version', () => {
    const path = join(dir, 'newer.db');
    openSqliteStore({ path })
      .close()
      .catch((error: unknown) => assert.fail(String(error)));
    const db = new Database(path);
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(
      LATEST_SCHEMA_VERSION + 1,
    );
    db.close();
    assert.throws(
      () => openSqliteStore({ path }),
      (error: unknown) => StoreError.is(error, 'schema'),
    );
  });

  it('group-commits the writes of one event-loop turn into one transaction', async () => {
    const store = openSqliteStore({ path: join(dir, 'group.db') });
    const before = store.commitCount();
    await Promise.all(
      Array.from({ length: 200 }, () =>
        store.queue.enqueue([
          {
            destination: 'bob',
            destinationDevice: 1,
            source: 'alice',
            sourceDevice: 1,
            type: 1,
            content: new Uint8Array(300),
            timestamp: 1,
            serverTimestamp: 1,
          },
        ]),
      ),
    );
    assert.equal(store.commitCount() - before, 1);
    assert.equal(await store.queue.count('bob', 1), 200);
    await store.close();
  });

  it('upgrades a version-1 database to multi-device without losing data', async () => {
    const path = join(dir, 'v1.db');
    const db = new Database(path);
    db.exec(
      'CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
    );
    db.exec(MIGRATIONS[0]?.sql ?? '');
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (1, 0)').run();
    db.prepare(
      "INSERT INTO accounts (name, next_device_id, created_at) VALUES ('old', 2, 1)",
    ).run();
    db.prepare("INSERT INTO devices VALUES ('old', 1, ?, 7, 'phone', 1, 2)").run(
      Buffer.alloc(33, 1),
    );
    db.prepare(
      "INSERT INTO envelopes (guid, account, device_id, source, source_device, type, content, timestamp, server_timestamp) VALUES (?, 'old', 1, 'x', 1, 1, ?, 1, 2)",
    ).run(Buffer.alloc(16, 3), Buffer.alloc(4, 4));
    // A random guid that happens to read as a valid row id (that of the
    // first envelope): the ack must still find this row by its whole guid.
    const lookalike = Buffer.alloc(16, 5);
    lookalike.writeBigUInt64BE(1n, 0);
    db.prepare(
      "INSERT INTO envelopes (guid, account, device_id, source, source_device, type, content, timestamp, server_timestamp) VALUES (?, 'old', 1, 'x', 1, 1, ?, 1, 2)",
    ).run(lookalike, Buffer.alloc(4, 6));
    db.close();
    const store = openSqliteStore({ path });
    const primary = await store.accounts.getDevice('old', 1);
    assert.equal(primary?.registrationId, 7);
    assert.equal(primary?.keyIndex, 0);
    assert.deepEqual(primary?.signedDeviceIdentity, new Uint8Array(0));
    assert.equal(await store.accounts.getDeviceList('old'), undefined);
    const page = await store.queue.page('old', 1, 0, 10);
    assert.equal(page.envelopes.length, 2);
    assert.equal(page.envelopes[0]?.sourceDeviceIdentity, undefined);
    assert.deepEqual(page.envelopes[0]?.guid, new Uint8Array(16).fill(3));
    assert.equal(await store.accounts.reserveDeviceId('old'), 2);
    // Queued after the upgrade: numbered after the old rows, guid with a row id.
    const [fresh] = await store.queue.enqueue([
      {
        destination: 'old',
        destinationDevice: 1,
        source: 'x',
        sourceDevice: 1,
        type: 1,
        content: new Uint8Array(4),
        timestamp: 1,
        serverTimestamp: 2,
      },
    ]);
    assert.deepEqual(fresh?.guid.subarray(0, 8), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 3]));
    // Acks of the random guids queued before the upgrade still delete them.
    assert.equal(await store.queue.ack('old', 1, [new Uint8Array(16).fill(7)]), 0);
    assert.equal(await store.queue.ack('old', 1, [new Uint8Array(lookalike)]), 1);
    assert.equal(await store.queue.ack('old', 1, [new Uint8Array(16).fill(3)]), 1);
    assert.equal(await store.queue.count('old', 1), 1);
    await store.close();
  });

  it('stores a fanout content once and deletes it with the last envelope that uses it', async () => {
    const path = join(dir, 'payloads.db');
    const store = openSqliteStore({ path });
    const content = new Uint8Array(5_000).fill(9);
    const fanout = Array.from({ length: 50 }, (_, i) => ({
      destination: `member${i}`,
      destinationDevice: 1,
      source: 'alice',
      sourceDevice: 1,
      type: 3,
      content,
      timestamp: 1,
      serverTimestamp: 10,
    }));
    const queued = await store.queue.enqueue(fanout);
    const db = new Database(path, { readonly: true });
    const stored = (): unknown =>
      db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM payloads) AS payloads,
             (SELECT COALESCE(SUM(length(content)), 0) FROM payloads) AS payloadBytes,
             (SELECT COALESCE(SUM(length(content)), 0) FROM envelopes) AS inlineBytes`,
        )
        .get();
    // 5,000 bytes once, not 50 times.
    assert.deepEqual(stored(), { payloads: 1, payloadBytes: 5_000, inlineBytes: 0 });
    for (const e of queued.slice(0, 49)) {
      assert.equal(await store.queue.ack(e.destination, 1, [e.guid]), 1);
    }
    assert.deepEqual(stored(), { payloads: 1, payloadBytes: 5_000, inlineBytes: 0 });
    const last = queued[49];
    assert.ok(last !== undefined);
    assert.deepEqual((await store.queue.page('member49', 1, 0, 1)).envelopes[0]?.content, content);
    assert.equal(await store.queue.ack('member49', 1, [last.guid]), 1);
    assert.deepEqual(stored(), { payloads: 0, payloadBytes: 0, inlineBytes: 0 });
    // Expiry releases payloads as well.
    await store.queue.enqueue(fanout);
    assert.equal(await store.queue.expire(11), 50);
    assert.deepEqual(stored(), { payloads: 0, payloadBytes: 0, inlineBytes: 0 });
    db.close();
    await store.close();
  });

  it('upgrades a version-4 database to shared payloads, keeping queued envelopes readable and ackable', async () => {
    const path = join(dir, 'v4.db');
    const db = new Database(path);
    db.exec(
      'CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
    );
    for (const migration of MIGRATIONS.filter((m) => m.version <= 4)) {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(
        migration.version,
      );
    }
    // A group fanout as version 4 stored it: the ciphertext in every row.
    const guids: Buffer[] = [];
    for (const member of ['m1', 'm2']) {
      const guid = Buffer.alloc(16, 8);
      guid.writeBigUInt64BE(BigInt(guids.length + 1), 0);
      guids.push(guid);
      db.prepare(
        `INSERT INTO envelopes (seq, guid, account, device_id, source, source_device, type,
           content, timestamp, server_timestamp, group_id)
         VALUES (?, ?, ?, 1, 'alice', 1, 3, ?, 1, 2, ?)`,
      ).run(guids.length, guid, member, Buffer.alloc(300, 6), Buffer.alloc(16, 1));
    }
    db.close();
    const store = openSqliteStore({ path });
    const page = await store.queue.page('m1', 1, 0, 10);
    assert.equal(page.envelopes.length, 1);
    assert.deepEqual(page.envelopes[0]?.content, new Uint8Array(300).fill(6));
    assert.deepEqual(page.envelopes[0]?.groupId, new Uint8Array(16).fill(1));
    assert.equal(await store.queue.queuedBytes('m2', 1), 300);
    // Bounds count the old rows too.
    await assert.rejects(
      store.queue.enqueue(
        [
          {
            destination: 'm2',
            destinationDevice: 1,
            source: 'alice',
            sourceDevice: 1,
            type: 1,
            content: new Uint8Array(4),
            timestamp: 1,
            serverTimestamp: 3,
          },
        ],
        { maxCount: 1, maxBytes: 1_000_000 },
      ),
      (error: unknown) => StoreError.is(error, 'queue-full'),
    );
    assert.equal(await store.queue.ack('m1', 1, [new Uint8Array(guids[0] ?? [])]), 1);
    assert.equal(await store.queue.ack('m2', 1, [new Uint8Array(guids[1] ?? [])]), 1);
    assert.equal(await store.queue.totalCount(), 0);
    await store.close();
  });
});
