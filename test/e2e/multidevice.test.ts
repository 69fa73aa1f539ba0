/**
 * Multi-device end to end: the real server and the real CLI as separate
 * processes. alice has a primary and 4 companions, bob a primary and 1
 * companion, all linked with `quintet link` + `quintet devices approve`.
 * Long-running `receive --follow --json` children are read line by line.
 *
 * - a message from bob reaches all 5 of alice's devices and shows as sent
 *   (outgoing, in the chat with alice) on bob's other device;
 * - a reply from any of alice's devices reaches all of bob's and all of
 *   alice's other devices;
 * - with alice's primary never started again, her companions keep talking;
 * - a removed companion is told it was logged out, nothing is queued for
 *   it afterwards, its own sessions cannot decrypt what is queued for its
 *   account, and it cannot log in again to collect anything;
 * - the safety number stays the same while companions come and go.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Follower } from './follower.js';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import { protocolAddress } from '../../src/protocol/address.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import { decryptEnvelope } from '../../src/client/core/session-ops.js';
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
const ctx = {
  crypto: nodeCrypto,
  random: (n: number) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

interface QueuedEnvelope {
  readonly deviceId: number;
  readonly source: string;
  readonly sourceDevice: number;
  readonly type: EnvelopeType;
  readonly content: Uint8Array;
}

describe('multi-device end to end (CLI)', { timeout: 120_000 }, () => {
  const dir = tempDir('quintet-md-');
  let server: ServerProcess;
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  const cli = (name: string, ...args: string[]) =>
    runCli([...args, '--profile', profile(name)], { QUINTET_PIN: PIN });
  const followers = new Map<string, Follower>();

  /** Links profile `name` as a companion of `primary` with the real CLI. */
  function link(name: string, primary: string): Promise<number> {
    return linkWithCli(server.url, profile(name), name, (code) =>
      cli(primary, 'devices', 'approve', code, '--pin', PIN),
    );
  }

  function follow(name: string): Follower {
    const follower = new Follower(profile(name));
    followers.set(name, follower);
    return follower;
  }

  /** Sends from `name` with its follower paused (one process per profile at a time). */
  async function send(name: string, to: string, text: string): Promise<Record<string, unknown>> {
    await followers.get(name)?.stop();
    const result = await cli(name, 'send', to, text, '--json');
    assert.equal(result.code, 0, result.stderr);
    if (followers.has(name)) follow(name);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  /** Pairwise envelopes still queued on the server for `account` (read-only). */
  function queuedFor(account: string): QueuedEnvelope[] {
    const db = new Database(join(dir.path, 'data', 'quintet.db'), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      const rows = db
        .prepare(
          // Shared group payloads live in their own table (stored once).
          `SELECT e.device_id, e.source, e.source_device, e.type,
             COALESCE(p.content, e.content) AS content
           FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload_id
           WHERE e.account = ? ORDER BY e.seq`,
        )
        .all(account) as Array<{
        device_id: number;
        source: string;
        source_device: number;
        type: number;
        content: Buffer;
      }>;
      return rows.map((r) => ({
        deviceId: r.device_id,
        source: r.source,
        sourceDevice: r.source_device,
        type: r.type,
        content: new Uint8Array(r.content),
      }));
    } finally {
      db.close();
    }
  }

  /** Decrypts `envelope` with the sessions in profile `name`: 'decrypted' or the error code. */
  async function tryDecrypt(name: string, envelope: QueuedEnvelope): Promise<string> {
    const store = createDeviceStore(new SqliteBackend(join(profile(name), 'device.db')));
    try {
      await decryptEnvelope(
        ctx,
        store.protocol,
        protocolAddress(envelope.source, envelope.sourceDevice),
        envelope.type,
        envelope.content,
      );
      return 'decrypted';
    } catch (error) {
      if (ProtocolError.is(error)) return error.code;
      throw error;
    } finally {
      await store.close();
    }
  }

  async function safetyNumber(name: string, peer: string): Promise<string> {
    const result = await cli(name, 'safety-number', peer);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  }

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    for (const follower of followers.values()) await follower.stop();
    await server.stop();
    dir.cleanup();
  });

  it('fans out across 5 + 2 devices, self-syncs, survives an absent primary and a removal', async () => {
    for (const name of ['alice', 'bob']) {
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
    const numberBefore = await safetyNumber('bob', 'alice');
    const alices = ['alice', 'alice-2', 'alice-3', 'alice-4', 'alice-5'];
    for (const name of alices.slice(1)) await link(name, 'alice');
    assert.equal(await link('bob-2', 'bob'), 2);
    assert.equal(await safetyNumber('bob', 'alice'), numberBefore, 'linking keeps the number');
    assert.equal(await safetyNumber('alice-3', 'bob'), numberBefore, 'same on a companion');

    for (const name of [...alices, 'bob', 'bob-2']) follow(name);

    // bob → alice: all 5 of alice's devices, and bob's companion as sent.
    const sent = await send('bob', 'alice', 'hello all of alice');
    assert.deepEqual([...(sent['devices'] as number[])].sort(), [1, 2, 3, 4, 5]);
    for (const name of alices) {
      const line = await followers.get(name)?.message('hello all of alice');
      assert.equal(line?.['from'], 'bob');
      assert.equal(line?.['outgoing'], false);
    }
    const copy = await followers.get('bob-2')?.message('hello all of alice');
    assert.equal(copy?.['from'], 'bob');
    assert.equal(copy?.['chat'], 'alice');
    assert.equal(copy?.['outgoing'], true);

    // A reply from alice's third device: both of bob's, and alice's 4 others.
    await send('alice-3', 'bob', 'reply from alice-3');
    for (const name of ['bob', 'bob-2']) {
      const line = await followers.get(name)?.message('reply from alice-3');
      assert.equal(line?.['from'], 'alice');
      assert.equal(line?.['fromDevice'], 3);
    }
    for (const name of alices.filter((n) => n !== 'alice-3')) {
      const line = await followers.get(name)?.message('reply from alice-3');
      assert.equal(line?.['outgoing'], true);
      assert.equal(line?.['chat'], 'bob');
    }

    // alice's primary goes away for good; her companions keep talking.
    await followers.get('alice')?.stop();
    followers.delete('alice');
    await send('bob-2', 'alice', 'primary is gone');
    for (const name of alices.slice(1)) await followers.get(name)?.message('primary is gone');
    await send('alice-5', 'bob', 'still here');
    for (const name of ['bob', 'bob-2']) await followers.get(name)?.message('still here');

    // bob removes his companion: it is told, and gets nothing afterwards.
    // (One connection per device: the command would replace the follower's.)
    await followers.get('bob')?.stop();
    const removed = await cli('bob', 'devices', 'remove', '2', '--pin', PIN);
    assert.equal(removed.code, 0, removed.stderr);
    await followers.get('bob-2')?.line((l) => l['type'] === 'logged-out');
    // Sent while bob's primary is offline, so the ciphertexts stay queued on
    // the server, where they are read back and tried with bob-2's own keys.
    const toBob = await send('alice-2', 'bob', 'after the removal');
    assert.deepEqual(toBob['devices'], [1], 'only the primary is addressed');
    const queued = queuedFor('bob');
    assert.ok(queued.length >= 1, 'the message is queued for bob');
    assert.deepEqual(
      queued.filter((e) => e.deviceId === 2),
      [],
      'nothing is queued for the removed device',
    );
    for (const envelope of queued) {
      assert.notEqual(
        await tryDecrypt('bob-2', envelope),
        'decrypted',
        'the removed device cannot read what was queued for its account',
      );
    }
    // The removed device cannot collect anything: a new receive is refused.
    const again = await cli('bob-2', 'receive', '--json', '--timeout', '2');
    assert.notEqual(again.code, 0, 'a removed device cannot log in again');
    assert.doesNotMatch(again.stdout, /after the removal/);
    follow('bob');
    await followers.get('bob')?.message('after the removal');
    assert.equal(
      followers.get('bob-2')?.lines.some((l) => l['text'] === 'after the removal'),
      false,
    );
    assert.equal(await safetyNumber('alice-4', 'bob'), numberBefore, 'removal keeps the number');
  });
});
