/**
 * Cluster mode: two nodes on one PostgreSQL share the blob store and the
 * credential key — a blob uploaded through node A downloads through node
 * B with A's credential, and B can delete it; and one account's quota
 * holds across both nodes. Skipped (with the reason) without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { BlobClient, BlobError } from '../../src/client/transport/blob-client.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { credentialFor, metric } from './helpers/blobs.js';
import { registeredDevice } from './helpers/device.js';
import { TEST_LIMITS } from './helpers/server.js';

const MIB = 1024 * 1024;
const QUOTA = 24 * MIB;
const skip = await serviceSkip('postgres');

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('blobs across cluster nodes', { skip }, () => {
  let schema: TestSchema;
  let a: RunningServer;
  let b: RunningServer;
  before(async () => {
    schema = await createTestSchema('blobcluster');
    const node = (nodeId: string): Promise<RunningServer> =>
      startServer({
        port: 0,
        database: schema.url,
        databaseSchema: schema.name,
        nodeId,
        logger: pino({ level: 'silent' }),
        limits: { ...TEST_LIMITS, blobQuotaBytes: QUOTA },
      });
    a = await node('blob-a');
    b = await node('blob-b');
  });
  after(async () => {
    await a.close();
    await b.close();
    await schema.drop();
  });

  it('uploads through node A and downloads and deletes through node B', async () => {
    const device = await registeredDevice(a.wsUrl, 'clusterblob');
    const token = await credentialFor(device);
    device.client.close();
    const bytes = randomBytes(3 * MIB + 17);
    const viaA = new BlobClient(a.url, () => Promise.resolve(token));
    const viaB = new BlobClient(b.url, () => Promise.resolve(token));
    const { id } = await viaA.upload(bytes, bytes.length, 'attachment');
    assert.ok((await collect(viaB.download(id))).equals(bytes));
    // Ranges cross chunk boundaries on B as well.
    assert.ok(
      (await collect(viaB.download(id, { offset: 262_000 }))).equals(bytes.subarray(262_000)),
    );
    assert.equal(await metric(b.url, 'quintet_blob_bytes_stored'), bytes.length);
    await viaB.delete(id);
    await assert.rejects(collect(viaA.download(id)), (e) => BlobError.is(e, 'not-found'));
  });

  it('holds one quota for uploads running at once through both nodes', async () => {
    const device = await registeredDevice(a.wsUrl, 'clusterquota');
    const token = await credentialFor(device);
    device.client.close();
    const viaA = new BlobClient(a.url, () => Promise.resolve(token));
    const viaB = new BlobClient(b.url, () => Promise.resolve(token));
    // Four 10 MiB uploads against a 24 MiB quota, two through each node at
    // once: each node alone would see room for its own two.
    const size = 10 * MIB;
    const results = await Promise.allSettled(
      [viaA, viaB, viaA, viaB].map((via) => via.upload(randomBytes(size), size, 'attachment')),
    );
    const stored = results.filter((r) => r.status === 'fulfilled');
    assert.equal(stored.length, 2);
    for (const r of results) {
      if (r.status === 'rejected')
        assert.ok(BlobError.is(r.reason, 'quota-exceeded'), String(r.reason));
    }
    assert.equal(await metric(a.url, 'quintet_blob_bytes_stored'), 2 * size);
    for (const r of stored) await viaA.delete(r.value.id);
  });
});
