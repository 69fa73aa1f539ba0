/**
 * A group send stores its ciphertext once on the SQLite store: the fanout
 * rows of every member device point at one payload, which goes with the
 * last of them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { startServer } from '../../src/server/main.js';
import { openSqliteStore } from '../../src/server/store/sqlite/index.js';
import { registeredDevice } from './helpers/device.js';
import { assertGroupChanged, assertOk, createGroupOver } from './helpers/groups.js';
import { ManualClock } from './helpers/server.js';

describe('group send storage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quintet-group-storage-'));
  const path = join(dir, 'quintet.db');
  const running = startServer({
    port: 0,
    store: openSqliteStore({ path }),
    clock: new ManualClock(),
    logger: pino({ level: 'silent' }),
  });
  after(async () => {
    await (await running).close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the ciphertext once for all member devices, until the last ack', async () => {
    const { wsUrl } = await running;
    const alice = await registeredDevice(wsUrl, 'alice');
    const members = [
      await registeredDevice(wsUrl, 'bob'),
      await registeredDevice(wsUrl, 'carol'),
      await registeredDevice(wsUrl, 'dave'),
    ];
    const { groupId } = await createGroupOver(
      alice,
      members.map((m) => m.account),
    );
    for (const m of members) assertGroupChanged(await m.client.nextPush(), groupId);
    const ciphertext = new Uint8Array(10_000).fill(3);
    assertOk(
      await alice.client.request({
        case: 'sendGroupMessage',
        value: {
          groupId,
          ciphertext,
          timestamp: 1n,
          recipients: members.map((m) => ({
            account: m.account,
            deviceIds: [1],
            registrationIds: [m.identity.registrationId],
          })),
        },
      }),
    );
    const db = new Database(path, { readonly: true });
    const stored = (): unknown =>
      db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM payloads) AS payloads,
             (SELECT COALESCE(SUM(length(content)), 0) FROM payloads) AS payloadBytes,
             (SELECT COUNT(*) FROM envelopes WHERE payload_id IS NOT NULL) AS rows,
             (SELECT COALESCE(SUM(length(content)), 0) FROM envelopes) AS inlineBytes`,
        )
        .get();
    assert.deepEqual(stored(), { payloads: 1, payloadBytes: 10_000, rows: 3, inlineBytes: 0 });
    for (const m of members) {
      const push = await m.client.nextPush();
      assert.ok(push.kind.case === 'envelope');
      assert.deepEqual(new Uint8Array(push.kind.value.content), ciphertext);
      assertOk(
        await m.client.request({
          case: 'ack',
          value: { serverGuids: [push.kind.value.serverGuid] },
        }),
      );
    }
    // Acks are committed lazily; a queue read commits them.
    await (await running).store.queue.count('bob', 1);
    assert.deepEqual(stored(), { payloads: 0, payloadBytes: 0, rows: 0, inlineBytes: 0 });
    db.close();
    for (const d of [alice, ...members]) d.client.close();
  });
});
