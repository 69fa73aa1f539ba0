/**
 * `BlobClient` against a scripted `fetch`: error mapping, a server that
 * ignores Range, giving up after repeated cuts, and the credential cache.
 * (Against the real server: test/server/blob-http.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BlobClient,
  BlobError,
  cachedBlobCredential,
} from '../../src/client/transport/blob-client.js';

const token = (): Promise<string> => Promise.resolve('t');

async function collect(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const part of stream) n += part.length;
  return n;
}

/** A body that sends `bytes` bytes and then breaks. */
function breakingBody(bytes: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) controller.error(new Error('connection reset'));
      else {
        sent = true;
        controller.enqueue(new Uint8Array(bytes));
      }
    },
  });
}

describe('BlobClient', () => {
  it('maps the server error body to a typed BlobError', async () => {
    const fetchImpl: typeof fetch = () =>
      Promise.resolve(
        Response.json({ error: 'quota-exceeded', message: 'over', limit: 42 }, { status: 413 }),
      );
    const client = new BlobClient('ws://example.test/v1/websocket', token, fetchImpl);
    await assert.rejects(
      client.upload(new Uint8Array(3), 3, 'attachment'),
      (e) => BlobError.is(e, 'quota-exceeded') && e.details.limit === 42,
    );
    const plain: typeof fetch = () => Promise.resolve(new Response('nope', { status: 404 }));
    await assert.rejects(
      collect(new BlobClient('http://x.test', token, plain).download('id')),
      (e) => BlobError.is(e, 'not-found'),
    );
  });

  it('resumes with Range and refuses a server that ignores it', async () => {
    const ranges: (string | null)[] = [];
    const fetchImpl: typeof fetch = (_input, init) => {
      const range = new Headers(init?.headers).get('range');
      ranges.push(range);
      if (range === null) {
        return Promise.resolve(
          new Response(breakingBody(10), { status: 200, headers: { 'content-length': '30' } }),
        );
      }
      // Answers the whole blob again instead of the asked range.
      return Promise.resolve(
        new Response(new Uint8Array(30), { status: 200, headers: { 'content-length': '30' } }),
      );
    };
    const client = new BlobClient('http://x.test', token, fetchImpl);
    await assert.rejects(
      collect(client.download('id')),
      (e) => BlobError.is(e, 'bad-response') && /ignored the range/.test(e.message),
    );
    assert.deepEqual(ranges, [null, 'bytes=10-']);
  });

  it('gives up after repeated cuts without progress', async () => {
    let calls = 0;
    const fetchImpl: typeof fetch = () => {
      calls += 1;
      return Promise.reject(new TypeError('fetch failed'));
    };
    const client = new BlobClient('http://x.test', token, fetchImpl);
    await assert.rejects(collect(client.download('id')), (e) => BlobError.is(e, 'network'));
    assert.equal(calls, 5);
  });

  it('caches a credential until a minute before it expires', async () => {
    let now = 1_000_000;
    let fetched = 0;
    const credential = cachedBlobCredential(
      () => {
        fetched += 1;
        return Promise.resolve({ token: `t${fetched}`, expiresAt: now + 3_600_000 });
      },
      () => now,
    );
    assert.deepEqual(await Promise.all([credential(), credential()]), ['t1', 't1']);
    now += 3_540_000 - 1;
    assert.equal(await credential(), 't1');
    now += 1;
    assert.equal(await credential(), 't2');
  });
});
