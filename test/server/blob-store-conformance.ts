/**
 * The conformance suite every `BlobStore` backend runs (files,
 * PostgreSQL): round trips, ranges, size checks that leave nothing,
 * ownership on delete, expiry, usage, quota claims and the credential key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import {
  BlobStoreError,
  newBlobId,
  type BlobKind,
  type BlobRecord,
  type BlobReservation,
  type BlobStore,
} from '../../src/server/blobs/blob-store.js';

const T0 = 1_700_000_000_000;
const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

function record(account: string, size: number, kind: BlobKind = 'attachment'): BlobRecord {
  return { id: newBlobId(random), account, kind, size, createdAt: T0, expiresAt: T0 + 1000 };
}

function claim(meta: BlobRecord, until = T0 + 60_000): BlobReservation {
  return { id: meta.id, account: meta.account, size: meta.size, until };
}

/** `bytes` in pieces of `piece` bytes. */
async function* pieces(bytes: Uint8Array, piece = 50_000): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += piece) {
    yield bytes.subarray(offset, offset + piece);
  }
}

async function readAll(store: BlobStore, id: string, start: number, end: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of store.read(id, start, end)) parts.push(part);
  return Buffer.concat(parts);
}

/** Registers the suite's tests; `open` gives a fresh, empty store. */
export function blobStoreConformance(open: () => Promise<BlobStore>): void {
  it('stores a blob and reads it back whole and by range', async () => {
    const store = await open();
    try {
      // Spans several 256 KiB chunks and ends mid-chunk.
      const bytes = random(700_001);
      const meta = record('alice', bytes.length);
      await store.put(meta, pieces(bytes));
      assert.deepEqual(await store.get(meta.id, T0), meta);
      assert.ok((await readAll(store, meta.id, 0, bytes.length - 1)).equals(bytes));
      for (const [start, end] of [
        [0, 0],
        [262_143, 262_144],
        [300_000, 699_999],
        [524_288, 700_000],
        [700_000, 700_000],
      ] as const) {
        const got = await readAll(store, meta.id, start, end);
        assert.ok(got.equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`);
      }
    } finally {
      await store.close();
    }
  });

  it('stores an empty blob', async () => {
    const store = await open();
    try {
      const meta = record('alice', 0);
      await store.put(meta, pieces(new Uint8Array(0)));
      assert.equal((await store.get(meta.id, T0))?.size, 0);
    } finally {
      await store.close();
    }
  });

  it('leaves nothing when the body is short, long or fails', async () => {
    const store = await open();
    try {
      const bytes = random(300_000);
      const short = record('alice', bytes.length + 1);
      await assert.rejects(store.put(short, pieces(bytes)), (e) =>
        BlobStoreError.is(e, 'size-mismatch'),
      );
      const long = record('alice', bytes.length - 1);
      await assert.rejects(store.put(long, pieces(bytes)), (e) =>
        BlobStoreError.is(e, 'size-mismatch'),
      );
      const failing = record('alice', bytes.length);
      async function* broken(): AsyncIterable<Uint8Array> {
        yield bytes.subarray(0, 100_000);
        throw new Error('connection reset');
      }
      await assert.rejects(store.put(failing, broken()), /connection reset/);
      for (const meta of [short, long, failing]) {
        assert.equal(await store.get(meta.id, T0), undefined);
      }
      assert.equal(await store.usage('alice', T0), 0);
      assert.equal(await store.totalBytes(), 0);
    } finally {
      await store.close();
    }
  });

  it('deletes only for the uploading account', async () => {
    const store = await open();
    try {
      const meta = record('alice', 10);
      await store.put(meta, pieces(random(10)));
      assert.equal(await store.delete(meta.id, 'mallory'), false);
      assert.ok((await store.get(meta.id, T0)) !== undefined);
      assert.equal(await store.delete(meta.id, 'alice'), true);
      assert.equal(await store.get(meta.id, T0), undefined);
      assert.equal(await store.delete(meta.id, 'alice'), false);
      assert.equal(await store.delete('../../etc/passwd', 'alice'), false);
    } finally {
      await store.close();
    }
  });

  it('hides expired blobs, counts usage per account, and sweeps', async () => {
    const store = await open();
    try {
      const a = record('alice', 100);
      const b = { ...record('alice', 200, 'archive'), expiresAt: T0 + 5000 };
      const c = record('bob', 50);
      for (const meta of [a, b, c]) await store.put(meta, pieces(random(meta.size)));
      assert.equal(await store.usage('alice', T0), 300);
      assert.equal(await store.usage('bob', T0), 50);
      assert.equal(await store.totalBytes(), 350);
      // Past a's and c's expiry: gone from reads and usage before any sweep.
      assert.equal(await store.get(a.id, T0 + 1000), undefined);
      assert.equal(await store.usage('alice', T0 + 1000), 200);
      assert.equal(await store.expire(T0 + 1000, 1), 1);
      assert.equal(await store.expire(T0 + 1000, 10), 1);
      assert.equal(await store.expire(T0 + 1000, 10), 0);
      assert.equal(await store.totalBytes(), 200);
      assert.deepEqual(await store.get(b.id, T0 + 1000), b);
    } finally {
      await store.close();
    }
  });

  it('treats malformed and unknown ids as absent', async () => {
    const store = await open();
    try {
      for (const id of ['', 'x', '..', '../secret', `${'A'.repeat(42)}/`, newBlobId(random)]) {
        assert.equal(await store.get(id, T0), undefined, id);
      }
    } finally {
      await store.close();
    }
  });

  it('claims quota against blobs and other claims; a stored blob ends its claim', async () => {
    const store = await open();
    try {
      const stored = record('alice', 300);
      await store.put(stored, pieces(random(300)));
      const a = record('alice', 400);
      const b = record('alice', 400);
      const c = record('alice', 300);
      assert.equal(await store.reserve(claim(a), 1000, T0), true);
      // 300 stored + 400 claimed + 400 > 1000.
      assert.equal(await store.reserve(claim(b), 1000, T0), false);
      assert.equal(await store.reserve(claim(c), 1000, T0), true);
      // The same id cannot be claimed twice.
      assert.equal(await store.reserve(claim(c), 10_000, T0), false);
      // Another account's quota is its own.
      assert.equal(await store.reserve(claim(record('bob', 1000)), 1000, T0), true);
      // Storing a's blob moves its bytes from the claim to usage: still full.
      await store.put(a, pieces(random(400)));
      assert.equal(await store.usage('alice', T0), 700);
      assert.equal(await store.reserve(claim(record('alice', 1)), 1000, T0), false);
      // A released claim frees its bytes; releasing again is harmless.
      await store.release(c.id);
      await store.release(c.id);
      assert.equal(await store.reserve(claim(record('alice', 300)), 1000, T0), true);
      assert.equal(await store.usage('alice', T0), 700);
    } finally {
      await store.close();
    }
  });

  it('stops counting a claim at its end, and sweeps it', async () => {
    const store = await open();
    try {
      const dead = record('alice', 1000);
      assert.equal(await store.reserve(claim(dead, T0 + 100), 1000, T0), true);
      assert.equal(await store.reserve(claim(record('alice', 1)), 1000, T0 + 99), false);
      assert.equal(await store.reserve(claim(record('alice', 1)), 1000, T0 + 100), true);
      await store.expire(T0 + 200, 10);
      // Swept: its id may be claimed again.
      assert.equal(await store.reserve(claim(dead), 2000, T0 + 200), true);
    } finally {
      await store.close();
    }
  });

  it('never lets concurrent claims pass the quota', async () => {
    const store = await open();
    try {
      const claims = Array.from({ length: 10 }, () => claim(record('alice', 300)));
      const granted = await Promise.all(claims.map((c) => store.reserve(c, 1000, T0)));
      assert.equal(granted.filter(Boolean).length, 3);
    } finally {
      await store.close();
    }
  });

  it('keeps one credential key', async () => {
    const store = await open();
    try {
      const key = await store.credentialKey();
      assert.equal(key.length, 32);
      assert.deepEqual(await store.credentialKey(), key);
    } finally {
      await store.close();
    }
  });
}
