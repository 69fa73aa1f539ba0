/**
 * The blob HTTP API against a real `startServer`: round trips through
 * `BlobClient`, Range resume after a cut, 404s, 401s, ownership, refusals
 * decided from the headers alone, cut uploads that leave nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BlobClient, BlobError } from '../../src/client/transport/blob-client.js';
import { issueBlobCredential } from '../../src/server/blobs/blob-credential.js';
import { newBlobId } from '../../src/server/blobs/blob-store.js';
import {
  credentialFor,
  cuttingProxy,
  eventually,
  metric,
  rawExchange,
  startUpload,
  uploadHead,
} from './helpers/blobs.js';
import { registeredDevice, type ConnectedDevice } from './helpers/device.js';
import { linkCompanion } from './helpers/linking.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const MIB = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

async function* inPieces(bytes: Uint8Array, piece: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += piece) {
    yield bytes.subarray(offset, offset + piece);
  }
}

describe('blob HTTP API', () => {
  let t: TestServer;
  let alice: ConnectedDevice;
  let bob: ConnectedDevice;
  let aliceToken: string;
  let bobToken: string;
  before(async () => {
    t = await startTestServer({ limits: { maxBlobBytes: 16 * MIB, blobQuotaBytes: 24 * MIB } });
    alice = await registeredDevice(t.wsUrl, 'blobalice');
    bob = await registeredDevice(t.wsUrl, 'blobbob');
    aliceToken = await credentialFor(alice);
    bobToken = await credentialFor(bob);
  });
  after(async () => {
    alice.client.close();
    bob.client.close();
    await t.close();
  });
  /** New tokens after the test clock moved past the old ones' hour. */
  const refresh = async (): Promise<void> => {
    aliceToken = await credentialFor(alice);
    bobToken = await credentialFor(bob);
  };
  const client = (token: string, base = t.server.url): BlobClient =>
    new BlobClient(base, () => Promise.resolve(token));

  it('uploads a multi-MiB blob in a stream and another device downloads it', async () => {
    const bytes = randomBytes(5 * MIB + 123);
    const progress: number[] = [];
    const { id, expiresAt } = await client(aliceToken).upload(
      inPieces(bytes, 100_000),
      bytes.length,
      'attachment',
      (sent) => progress.push(sent),
    );
    assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt, t.clock.now() + 30 * DAY_MS);
    assert.equal(progress.at(-1), bytes.length);
    const received: number[] = [];
    const got = await collect(
      client(bobToken).download(id, { onProgress: (n) => received.push(n) }),
    );
    assert.ok(got.equals(bytes));
    assert.equal(received.at(-1), bytes.length);
    // From an offset, and a raw N-M range.
    const tail = await collect(client(bobToken).download(id, { offset: 4 * MIB }));
    assert.ok(tail.equals(bytes.subarray(4 * MIB)));
    const ranged = await fetch(`${t.server.url}/v1/blobs/${id}`, {
      headers: { authorization: `Bearer ${bobToken}`, range: 'bytes=10-19' },
    });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 10-19/${bytes.length}`);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(10, 20)));
    const past = await fetch(`${t.server.url}/v1/blobs/${id}`, {
      headers: { authorization: `Bearer ${bobToken}`, range: `bytes=${bytes.length}-` },
    });
    assert.equal(past.status, 416);
    assert.ok(((await metric(t.server.url, 'quintet_blob_bytes_stored')) ?? 0) >= bytes.length);
    await client(aliceToken).delete(id);
  });

  it('resumes a download cut in the middle with a Range request', async () => {
    const bytes = randomBytes(6 * MIB);
    const { id } = await client(aliceToken).upload(bytes, bytes.length, 'archive');
    // The first two connections break after ~1.5 MiB each.
    const proxy = await cuttingProxy(t.server.url, 1.5 * MIB, 2);
    try {
      const got = await collect(client(bobToken, proxy.url).download(id));
      assert.ok(got.equals(bytes), 'resumed bytes match');
      assert.ok(proxy.connections() >= 3, `resumed over ${proxy.connections()} connections`);
    } finally {
      await proxy.close();
    }
    await client(aliceToken).delete(id);
  });

  it('answers 404 for unknown, guessed, malformed, deleted and expired ids', async () => {
    const blobs = client(bobToken);
    for (const id of [
      newBlobId((n) => new Uint8Array(randomBytes(n))),
      'A'.repeat(43),
      'nope',
      '..%2F..%2Fquintet.db',
    ]) {
      await assert.rejects(collect(blobs.download(id)), (e) => BlobError.is(e, 'not-found'), id);
    }
    const { id } = await client(aliceToken).upload(randomBytes(1000), 1000, 'archive');
    t.clock.advance(DAY_MS);
    await refresh();
    await assert.rejects(collect(client(bobToken).download(id)), (e) =>
      BlobError.is(e, 'not-found'),
    );
    assert.equal(await t.server.sweepBlobs(), 1);
    const kept = await client(aliceToken).upload(randomBytes(10), 10, 'attachment');
    await client(aliceToken).delete(kept.id);
    await assert.rejects(collect(client(bobToken).download(kept.id)), (e) =>
      BlobError.is(e, 'not-found'),
    );
  });

  it('refuses missing, forged, foreign, expired and revoked credentials with 401', async () => {
    const { id } = await client(aliceToken).upload(randomBytes(10), 10, 'attachment');
    const bare = await fetch(`${t.server.url}/v1/blobs/${id}`);
    assert.equal(bare.status, 401);
    assert.equal(((await bare.json()) as { error: string }).error, 'unauthorized');
    const dot = aliceToken.indexOf('.');
    const flipped = aliceToken.at(-2) === 'A' ? 'B' : 'A';
    const forged = [
      `${aliceToken.slice(0, -2)}${flipped}${aliceToken.slice(-1)}`,
      // Another account's payload under alice's mac.
      `${bobToken.slice(0, bobToken.indexOf('.'))}${aliceToken.slice(dot)}`,
      // A well-formed token under a key the server never had.
      issueBlobCredential(new Uint8Array(32), 'blobalice', 1, t.clock.now() + 60_000),
      'garbage',
    ];
    for (const token of forged) {
      await assert.rejects(collect(client(token).download(id)), (e) =>
        BlobError.is(e, 'unauthorized'),
      );
      await assert.rejects(client(token).upload(randomBytes(10), 10, 'attachment'), (e) =>
        BlobError.is(e, 'unauthorized'),
      );
    }
    // A companion that logs out loses the API before its token expires.
    const companion = await linkCompanion(t.wsUrl, alice, { keyIndex: 1, listTimestamp: 5001 });
    const companionToken = await credentialFor(companion);
    assert.equal((await collect(client(companionToken).download(id))).length, 10);
    const out = await companion.client.request({ case: 'logout', value: {} });
    assert.equal(out.error, undefined);
    await assert.rejects(collect(client(companionToken).download(id)), (e) =>
      BlobError.is(e, 'unauthorized'),
    );
    // An hour later alice's token has expired.
    const old = aliceToken;
    t.clock.advance(61 * 60 * 1000);
    await assert.rejects(client(old).delete(id), (e) => BlobError.is(e, 'unauthorized'));
    await refresh();
    await client(aliceToken).delete(id);
  });

  it('lets only the uploading account delete', async () => {
    const { id } = await client(aliceToken).upload(randomBytes(100), 100, 'attachment');
    await assert.rejects(client(bobToken).delete(id), (e) => BlobError.is(e, 'not-found'));
    assert.equal((await collect(client(bobToken).download(id))).length, 100);
    await client(aliceToken).delete(id);
    await assert.rejects(client(aliceToken).delete(id), (e) => BlobError.is(e, 'not-found'));
  });

  it('deletes with ?kind= only a blob of that kind', async () => {
    // A companion deletes a refused history archive by the id the refused
    // pointer named: pinned to `archive`, an attachment id deletes nothing.
    const attachment = await client(aliceToken).upload(randomBytes(50), 50, 'attachment');
    const archive = await client(aliceToken).upload(randomBytes(60), 60, 'archive');
    await assert.rejects(client(aliceToken).delete(attachment.id, 'archive'), (e) =>
      BlobError.is(e, 'not-found'),
    );
    assert.equal((await collect(client(aliceToken).download(attachment.id))).length, 50);
    // Another account's device: not its blob, whatever the kind.
    await assert.rejects(client(bobToken).delete(archive.id, 'archive'), (e) =>
      BlobError.is(e, 'not-found'),
    );
    assert.equal((await collect(client(aliceToken).download(archive.id))).length, 60);
    await client(aliceToken).delete(archive.id, 'archive');
    await assert.rejects(collect(client(aliceToken).download(archive.id)), (e) =>
      BlobError.is(e, 'not-found'),
    );
    const bad = await fetch(`${t.server.url}/v1/blobs/${attachment.id}?kind=photo`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${aliceToken}` },
    });
    assert.equal(bad.status, 400);
    await client(aliceToken).delete(attachment.id, 'attachment');
  });

  it('refuses a too-large blob and an exceeded quota from the headers alone', async () => {
    // Only the head is sent: an answer proves nothing of the body was awaited.
    const tooLarge = await rawExchange(
      t.server.url,
      uploadHead(t.server.url, aliceToken, 10 * 1024 * MIB),
      new Uint8Array(0),
      { end: false },
    );
    assert.equal(tooLarge.status, 413);
    assert.deepEqual(JSON.parse(tooLarge.body), {
      error: 'blob-too-large',
      message: `blobs are limited to ${16 * MIB} bytes`,
      limit: 16 * MIB,
    });
    assert.equal(tooLarge.closedByServer, true, 'the server hangs up rather than drain');
    const first = await client(aliceToken).upload(randomBytes(15 * MIB), 15 * MIB, 'attachment');
    const over = await rawExchange(
      t.server.url,
      uploadHead(t.server.url, aliceToken, 10 * MIB),
      new Uint8Array(0),
      { end: false },
    );
    assert.equal(over.status, 413);
    assert.equal((JSON.parse(over.body) as { error: string }).error, 'quota-exceeded');
    assert.equal(over.closedByServer, true);
    // BlobClient reports both with their codes, even while still sending.
    await assert.rejects(
      client(aliceToken).upload(randomBytes(10 * MIB), 10 * MIB, 'attachment'),
      (e) => BlobError.is(e, 'quota-exceeded') && e.details.limit === 24 * MIB,
    );
    await assert.rejects(
      client(aliceToken).upload(randomBytes(17 * MIB), 17 * MIB, 'attachment'),
      (e) => BlobError.is(e, 'blob-too-large'),
    );
    // Bob's quota is his own.
    const bobs = await client(bobToken).upload(randomBytes(10 * MIB), 10 * MIB, 'attachment');
    await client(bobToken).delete(bobs.id);
    await client(aliceToken).delete(first.id);
  });

  it('bounds the uploads one account has in progress', async () => {
    const open = [1, 2, 3, 4].map(() => startUpload(t.server.url, aliceToken, MIB, 1000));
    await eventually(
      async () => (await metric(t.server.url, 'quintet_blob_uploads_in_progress')) === 4,
      'four uploads in progress',
    );
    const fifth = await rawExchange(
      t.server.url,
      uploadHead(t.server.url, aliceToken, 10),
      new Uint8Array(0),
      { end: false },
    );
    assert.equal(fifth.status, 429);
    assert.equal((JSON.parse(fifth.body) as { error: string }).error, 'rate-limited');
    assert.equal(fifth.closedByServer, true);
    // Another account is not affected.
    const bobs = await client(bobToken).upload(randomBytes(10), 10, 'attachment');
    await client(bobToken).delete(bobs.id);
    for (const socket of open) socket.destroy();
    await eventually(
      async () => (await metric(t.server.url, 'quintet_blob_uploads_in_progress')) === 0,
      'the cut uploads end',
    );
    const again = await client(aliceToken).upload(randomBytes(10), 10, 'attachment');
    await client(aliceToken).delete(again.id);
  });

  it('refuses an upload without Content-Length or with a bad kind', async () => {
    const { host } = new URL(t.server.url);
    const chunked = await rawExchange(
      t.server.url,
      [
        'POST /v1/blobs?kind=attachment HTTP/1.1',
        `Host: ${host}`,
        `Authorization: Bearer ${aliceToken}`,
        'Transfer-Encoding: chunked',
      ].join('\r\n'),
      new Uint8Array(0),
      { end: false },
    );
    assert.equal(chunked.status, 400);
    const kind = await fetch(`${t.server.url}/v1/blobs?kind=photo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}` },
      body: new Uint8Array(3),
    });
    assert.equal(kind.status, 400);
  });

  it('stores nothing when the body ends short', async () => {
    const before = await metric(t.server.url, 'quintet_blob_bytes_stored');
    const cutsBefore = await metric(
      t.server.url,
      'quintet_blob_refusals_total{reason="incomplete-body"}',
    );
    await rawExchange(
      t.server.url,
      uploadHead(t.server.url, aliceToken, 2 * MIB),
      randomBytes(MIB),
      { end: true },
    ).catch(() => undefined);
    await eventually(
      async () =>
        (await metric(t.server.url, 'quintet_blob_refusals_total{reason="incomplete-body"}')) ===
        (cutsBefore ?? 0) + 1,
      'the cut upload is noticed',
    );
    assert.equal(await metric(t.server.url, 'quintet_blob_bytes_stored'), before);
  });
});

describe('a blob upload slower than the HTTP request timeout', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      limits: { httpRequestTimeoutMs: 300, httpHeadersTimeoutMs: 2000 },
    });
  });
  after(() => t.close());

  it('still closes other requests that carry a body, unread', async () => {
    // The longer request bound must not let a body trickle into /healthz for 15 minutes.
    const { host } = new URL(t.server.url);
    for (const method of ['GET', 'POST']) {
      const answer = await rawExchange(
        t.server.url,
        `${method} /healthz HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000000`,
        new Uint8Array(10),
        { end: false },
      );
      assert.equal(answer.closedByServer, true, method);
    }
  });

  it('completes within the blob upload timeout', async () => {
    const device = await registeredDevice(t.wsUrl, 'slowuploader');
    const token = await credentialFor(device);
    device.client.close();
    // 20 pieces 100 ms apart: well past the 300 ms request timeout, never idle for long.
    async function* slowly(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 20; i++) {
        yield new Uint8Array(1000).fill(i);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const blobs = new BlobClient(t.server.url, () => Promise.resolve(token));
    const { id } = await blobs.upload(slowly(), 20_000, 'attachment');
    assert.equal((await collect(blobs.download(id))).length, 20_000);
  });
});
