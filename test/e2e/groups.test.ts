/**
 * Groups end to end: the real server and the real CLI as separate
 * processes. alice, bob and carol each have a primary and one companion
 * (`quintet link` + `quintet devices approve`).
 *
 * - group messages reach every member device exactly once;
 * - after carol is removed, the ciphertexts of later messages — read from
 *   the server's SQLite queue — cannot be decrypted with the sender keys
 *   carol's two devices hold (their profiles opened with the SQLite backend);
 * - after bob's companion is removed from bob's account, likewise for it;
 * - mallory, added by writing straight into the server's group tables, is
 *   refused by the members' clients: no sender key, no message.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { groupDecrypt } from '../../src/protocol/group-cipher.js';
import { groupIdToBytes, parseGroupId } from '../../src/client/core/groups/group-id.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { SqliteBackend } from '../../src/client/storage/sqlite-backend.js';
import {
  ensureBuilt,
  linkWithCli,
  runCli,
  startServer,
  tempDir,
  type ServerProcess,
} from './harness.js';

const PIN = '2468';
const SENDER_KEY = 3;
const ctx = {
  crypto: nodeCrypto,
  random: (n: number) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

interface QueuedCiphertext {
  readonly account: string;
  readonly deviceId: number;
  readonly source: string;
  readonly sourceDevice: number;
  readonly content: Uint8Array;
}

describe('groups end to end (CLI)', { timeout: 240_000 }, () => {
  const dir = tempDir('quintet-groups-');
  let server: ServerProcess;
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  const cli = (name: string, ...args: string[]) =>
    runCli([...args, '--profile', profile(name)], { QUINTET_PIN: PIN });

  async function link(name: string, primary: string): Promise<void> {
    await linkWithCli(server.url, profile(name), name, (code) =>
      cli(primary, 'devices', 'approve', code, '--pin', PIN),
    );
  }

  /** Drains `name`'s queue; returns the group message texts it printed. */
  async function receive(name: string, gid: string): Promise<string[]> {
    const result = await cli(name, 'receive', '--json', '--timeout', '5');
    assert.equal(result.code, 0, result.stderr);
    return result.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((m) => m['type'] === 'message' && m['chat'] === gid)
      .map((m) => `${String(m['from'])}.${String(m['fromDevice'])}:${String(m['text'])}`);
  }

  async function groupSend(
    name: string,
    gid: string,
    text: string,
  ): Promise<Record<string, unknown>> {
    const result = await cli(name, 'group', 'send', gid, text, '--json');
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  /** SENDER_KEY envelopes of the group still queued on the server (read-only). */
  function queuedCiphertexts(gid: string): QueuedCiphertext[] {
    const db = new Database(join(dir.path, 'data', 'quintet.db'), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      const rows = db
        .prepare(
          // A group send's ciphertext is stored once (payloads) and shared by
          // every member device's row.
          `SELECT e.account, e.device_id, e.source, e.source_device,
             COALESCE(p.content, e.content) AS content
           FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload_id
           WHERE e.type = ? AND e.group_id = ? ORDER BY e.seq`,
        )
        .all(SENDER_KEY, Buffer.from(groupIdToBytes(parseGroupId(gid)))) as Array<{
        account: string;
        device_id: number;
        source: string;
        source_device: number;
        content: Buffer;
      }>;
      return rows.map((r) => ({
        account: r.account,
        deviceId: r.device_id,
        source: r.source,
        sourceDevice: r.source_device,
        content: new Uint8Array(r.content),
      }));
    } finally {
      db.close();
    }
  }

  /** groupDecrypt with the sender keys stored in `name`'s profile: 'decrypted' or the error code. */
  async function tryDecrypt(name: string, c: QueuedCiphertext): Promise<string> {
    const file = join(profile(name), 'device.db');
    const store = createDeviceStore(new SqliteBackend(file));
    try {
      await groupDecrypt(
        ctx,
        store.senderKeys,
        protocolAddress(c.source, c.sourceDevice),
        c.content,
      );
      return 'decrypted';
    } catch (error) {
      if (ProtocolError.is(error)) return error.code;
      throw error;
    } finally {
      await store.close();
    }
  }

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('fans out, rotates on member and device removal, refuses a server-added member', async () => {
    for (const name of ['alice', 'bob', 'carol', 'mallory']) {
      const result = await runCli([
        'register',
        name,
        '--server',
        server.url,
        '--profile',
        profile(name),
        '--pin',
        PIN,
      ]);
      assert.equal(result.code, 0, result.stderr);
    }
    for (const name of ['alice', 'bob', 'carol']) await link(`${name}-2`, name);

    const created = await cli('alice', 'group', 'create', 'team', 'bob', 'carol');
    assert.equal(created.code, 0, created.stderr);
    const gid = created.stdout.trim();
    assert.match(gid, /^[0-9a-f-]{36}$/);

    await groupSend('alice', gid, 'm1');
    await groupSend('bob-2', gid, 'm2');
    const devices = ['alice', 'alice-2', 'bob', 'bob-2', 'carol', 'carol-2'];
    for (const name of devices) {
      const got = (await receive(name, gid)).sort();
      const expected = ['alice.1:m1', 'bob.2:m2'].filter((m) => {
        // The sending device itself does not receive its own message.
        if (name === 'alice') return m !== 'alice.1:m1';
        if (name === 'bob-2') return m !== 'bob.2:m2';
        return true;
      });
      assert.deepEqual(got, expected, `${name} gets each message exactly once`);
    }
    const listed = await cli('carol-2', 'groups', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /"account":"carol"/);

    // carol is removed; later ciphertexts are unreadable with her keys.
    const removed = await cli('alice', 'group', 'remove', gid, 'carol');
    assert.equal(removed.code, 0, removed.stderr);
    const m3 = await groupSend('alice', gid, 'm3');
    assert.equal(m3['rotated'] === true || Number(m3['distributed']) > 0, true);
    await groupSend('bob', gid, 'm4');
    const afterRemoval = queuedCiphertexts(gid);
    assert.ok(afterRemoval.some((c) => c.source === 'alice'));
    assert.ok(afterRemoval.some((c) => c.source === 'bob'));
    assert.ok(
      afterRemoval.every((c) => c.account !== 'carol'),
      'nothing is queued for carol',
    );
    for (const c of afterRemoval) {
      for (const name of ['carol', 'carol-2']) {
        assert.notEqual(
          await tryDecrypt(name, c),
          'decrypted',
          `${name} must not read ${c.source}`,
        );
      }
    }
    for (const c of afterRemoval) {
      for (const name of ['carol', 'carol-2']) {
        assert.equal(
          await tryDecrypt(name, c),
          'no-session',
          `${name} holds no chain of ${c.source}'s`,
        );
      }
    }
    assert.deepEqual((await receive('bob-2', gid)).sort(), ['alice.1:m3', 'bob.1:m4']);
    // Control: the same attempt on a member's store finds the chain (the
    // message key is used up by now, so it reports a duplicate).
    const forBob2 = afterRemoval.find((c) => c.account === 'bob' && c.deviceId === 2);
    assert.ok(forBob2 !== undefined);
    assert.equal(await tryDecrypt('bob-2', forBob2), 'duplicate-message');
    assert.deepEqual((await receive('alice-2', gid)).sort(), ['alice.1:m3', 'bob.1:m4']);
    assert.deepEqual(await receive('carol', gid), []);

    // bob's companion is removed from bob's account.
    const unlinked = await cli('bob', 'devices', 'remove', '2', '--pin', PIN);
    assert.equal(unlinked.code, 0, unlinked.stderr);
    await groupSend('alice', gid, 'm5');
    const afterUnlink = queuedCiphertexts(gid).filter((c) => c.source === 'alice');
    assert.ok(afterUnlink.length > 0);
    assert.ok(afterUnlink.every((c) => !(c.account === 'bob' && c.deviceId === 2)));
    for (const c of afterUnlink) {
      assert.notEqual(
        await tryDecrypt('bob-2', c),
        'decrypted',
        'the removed companion must not read on',
      );
    }
    assert.deepEqual((await receive('bob', gid)).sort(), ['alice.1:m3', 'alice.1:m5']);

    // mallory is added by writing into the server's tables directly.
    const db = new Database(join(dir.path, 'data', 'quintet.db'));
    try {
      db.prepare('INSERT INTO group_members (group_id, account, admin) VALUES (?, ?, 0)').run(
        Buffer.from(groupIdToBytes(parseGroupId(gid))),
        'mallory',
      );
    } finally {
      db.close();
    }
    const m6 = await groupSend('bob', gid, 'm6');
    assert.deepEqual(
      (m6['refused'] as Array<{ account: string }>).map((r) => r.account),
      ['mallory'],
    );
    assert.deepEqual(await receive('mallory', gid), []);
    assert.deepEqual((await receive('alice', gid)).sort(), ['bob.1:m4', 'bob.1:m6']);
    const groups = await cli('bob', 'groups', '--json');
    assert.equal(groups.code, 0, groups.stderr);
    assert.doesNotMatch(groups.stdout, /mallory/);
  });
});
