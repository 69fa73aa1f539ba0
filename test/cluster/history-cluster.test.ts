/**
 * History sync in cluster mode with real processes: two `quintet server`
 * nodes on one PostgreSQL schema (the blob store's chunked rows) and a
 * private NATS. The primary's profile is pinned to node1, the companion's
 * to node2: `quintet link` waits on node2, `devices approve --history all`
 * runs on node1, so the archive goes up through node1 and comes down
 * through node2. The companion lists what the primary holds, and once it
 * confirmed the import the blob is gone from the database.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openProfileStore } from '../../src/cli/profile.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import {
  ensureBuilt,
  linkWithCli,
  messagesOf,
  runCli,
  tempDir,
  type CliResult,
} from '../e2e/harness.js';
import { Cluster, natsBinarySkip } from './harness.js';

const PIN = '2468';
const SEEDED = 1500;
const skip = (await serviceSkip('postgres')) ?? natsBinarySkip();

describe('cluster: history sync across nodes', { skip, timeout: 300_000 }, () => {
  const dir = tempDir('quintet-cluster-history-');
  let schema: TestSchema | undefined;
  let cluster: Cluster | undefined;
  let groupId = '';
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  const url = (nodeId: string): string => {
    assert.ok(cluster, 'setup failed');
    return cluster.node(nodeId).url;
  };
  const home: Record<string, string> = { phone: 'node1', bob: 'node2', laptop: 'node2' };

  async function cli(name: string, ...args: string[]): Promise<CliResult> {
    const server = url(home[name] ?? 'node1');
    const result = await runCli(
      [...args, '--profile', profile(name), '--server', server],
      { QUINTET_PIN: PIN },
      120_000,
    );
    assert.equal(result.code, 0, `quintet ${args.join(' ')} (${name}) failed:\n${result.stderr}`);
    return result;
  }

  /** One counter of a node's `/metrics`. */
  async function metric(nodeId: string, name: string): Promise<number> {
    const text = await (await fetch(`${url(nodeId)}/metrics`)).text();
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
    return match?.[1] === undefined ? 0 : Number(match[1]);
  }

  async function archiveRows(): Promise<number> {
    assert.ok(schema);
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      const result = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema.name}".blobs WHERE kind = 'archive'`,
      );
      return Number(result.rows[0]?.n ?? -1);
    } finally {
      await client.end();
    }
  }

  before(async () => {
    ensureBuilt();
    schema = await createTestSchema('history');
    cluster = await Cluster.start({ database: { url: schema.url, schema: schema.name }, nodes: 2 });
    await cli('phone', 'register', 'hc-alice', '--pin', PIN);
    await cli('bob', 'register', 'hc-bob', '--pin', PIN);
    groupId = (await cli('phone', 'group', 'create', 'team', 'hc-bob')).stdout.trim();
    await cli('bob', 'send', 'hc-alice', 'a real one');
    await cli('phone', 'receive');
    // The rest seeded straight into the phone's profile (no CLI is running).
    const store = openProfileStore(profile('phone'));
    try {
      const now = Date.now();
      await store.transaction(async (tx) => {
        for (let i = 0; i < SEEDED; i++) {
          const chat = i % 2 === 0 ? 'hc-bob' : groupId;
          const id = new Uint8Array(16);
          new DataView(id.buffer).setUint32(12, i + 1);
          const message: StoredMessage = {
            id,
            chat,
            sender: i % 3 === 0 ? 'hc-alice' : 'hc-bob',
            senderDevice: 1,
            text: `seeded ${i}`,
            sentAt: now - 86_400_000 + i * 1000,
            receivedAt: i % 3 === 0 ? 0 : now - 86_400_000 + i * 1000 + 5,
            outgoing: i % 3 === 0,
            receipts: {},
          };
          await tx.messages.put(message);
        }
      });
    } finally {
      await store.close();
    }
  });

  after(async () => {
    await cluster?.close();
    await schema?.drop();
    dir.cleanup();
  });

  it('uploads through node1, downloads through node2, imports, and deletes the blob', async () => {
    const uploadsBefore = await metric('node1', 'quintet_blob_uploads_total');
    let approved = '';
    await linkWithCli(url('node2'), profile('laptop'), 'laptop', async (code) => {
      const result = await runCli(
        [
          'devices',
          'approve',
          code,
          '--history',
          'all',
          '--profile',
          profile('phone'),
          '--server',
          url('node1'),
        ],
        { QUINTET_PIN: PIN },
        120_000,
      );
      approved = result.stderr;
      return result;
    });
    assert.match(approved, new RegExp(`sent account state and ${SEEDED + 1} messages of history`));
    // `link` returned after the import was done and confirmed.
    assert.equal(await metric('node1', 'quintet_blob_uploads_total'), uploadsBefore + 1);
    assert.equal(await metric('node2', 'quintet_blob_uploads_total'), 0);
    assert.ok((await metric('node2', 'quintet_blob_downloads_total')) >= 1, 'downloaded on node2');
    assert.equal(await metric('node1', 'quintet_blob_downloads_total'), 0);
    assert.equal(await metric('node2', 'quintet_blob_deletes_total'), 1, 'deleted through node2');
    assert.equal(await archiveRows(), 0, 'no archive left in the database');

    for (const chat of ['hc-bob', groupId]) {
      const onPhone = messagesOf(await cli('phone', 'history', chat, '--json'));
      const onLaptop = messagesOf(await cli('laptop', 'history', chat, '--json'));
      assert.ok(onPhone.length >= SEEDED / 2, chat);
      assert.deepEqual(
        onLaptop.map((m) => m['id']),
        onPhone.map((m) => m['id']),
        `${chat}: the same messages in the same order`,
      );
    }
  });
});
