/**
 * The blob-store conformance suite on both backends: files in a temporary
 * directory, and PostgreSQL in a fresh schema (skipped, with the reason,
 * when PostgreSQL is absent). Plus what only one backend has: the file
 * store's restart behaviour and the shared credential key in PostgreSQL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newBlobId } from '../../src/server/blobs/blob-store.js';
import { openFileBlobStore } from '../../src/server/blobs/file-blob-store.js';
import { openPostgresBlobStore } from '../../src/server/store/postgres/blobs.js';
import { openPostgresStore } from '../../src/server/store/postgres/index.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { blobStoreConformance } from './blob-store-conformance.js';

const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

const T0 = 1_700_000_000_000;

describe('file blob store', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  blobStoreConformance(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quintet-blob-test-'));
    dirs.push(dir);
    return openFileBlobStore({ dir });
  });

  it('keeps blobs and the key across a reopen, and deletes a crashed upload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quintet-blob-test-'));
    dirs.push(dir);
    const first = await openFileBlobStore({ dir });
    const id = newBlobId((n) => new Uint8Array(randomBytes(n)));
    const meta = {
      id,
      account: 'alice',
      kind: 'attachment' as const,
      size: 3,
      createdAt: T0,
      expiresAt: T0 + 10,
    };
    await first.put(meta, once(new Uint8Array([1, 2, 3])));
    const key = await first.credentialKey();
    await first.close();
    // What a crash mid-upload leaves behind.
    await writeFile(
      join(dir, 'tmp', `${newBlobId((n) => new Uint8Array(randomBytes(n)))}.abc`),
      'partial',
    );
    const second = await openFileBlobStore({ dir });
    try {
      assert.deepEqual(await second.get(id, T0), meta);
      assert.deepEqual(await second.credentialKey(), key);
      assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    } finally {
      await second.close();
    }
  });
});

const skip = await serviceSkip('postgres');

describe('PostgreSQL blob store', { skip }, () => {
  let schema: TestSchema;
  const schemas: TestSchema[] = [];
  before(async () => {
    schema = await createTestSchema('blobs');
  });
  after(async () => {
    await schema.drop();
    for (const fresh of schemas) await fresh.drop();
  });

  blobStoreConformance(async () => {
    // Each test gets empty tables: a new schema, migrated by the main store.
    const fresh = await createTestSchema('blobc');
    schemas.push(fresh);
    const main = await openPostgresStore({ url: fresh.url, schema: fresh.name });
    await main.close();
    return openPostgresBlobStore({ url: fresh.url, schema: fresh.name });
  });

  it('gives every node the same credential key', async () => {
    const main = await openPostgresStore({ url: schema.url, schema: schema.name });
    await main.close();
    const a = openPostgresBlobStore({ url: schema.url, schema: schema.name });
    const b = openPostgresBlobStore({ url: schema.url, schema: schema.name });
    try {
      const [ka, kb] = await Promise.all([a.credentialKey(), b.credentialKey()]);
      assert.deepEqual(ka, kb);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('counts quota claims made through every node', async () => {
    const fresh = await createTestSchema('blobq');
    schemas.push(fresh);
    const main = await openPostgresStore({ url: fresh.url, schema: fresh.name });
    await main.close();
    const a = openPostgresBlobStore({ url: fresh.url, schema: fresh.name });
    const b = openPostgresBlobStore({ url: fresh.url, schema: fresh.name });
    try {
      const now = Date.now();
      const claims = Array.from({ length: 12 }, (_, i) => ({
        store: i % 2 === 0 ? a : b,
        claim: { id: newBlobId(random), account: 'alice', size: 300, until: now + 60_000 },
      }));
      const granted = await Promise.all(
        claims.map(({ store, claim }) => store.reserve(claim, 1000, now)),
      );
      assert.equal(granted.filter(Boolean).length, 3);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
