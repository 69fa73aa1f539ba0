/**
 * The worker-thread SHA-256 behind attachment hashing (src/crypto/node-sha256-offload.ts):
 * the same digests as an inline hash in any chunking, bounded queueing with
 * backpressure, typed failure when the worker goes away, and a process that
 * exits on its own whether hashes finished or were abandoned.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { closeSha256Worker, createOffloadedSha256 } from '../../src/crypto/node-sha256-offload.js';
import { CryptoError } from '../../src/crypto/provider.js';
import { checkProperty } from '../property.js';

const MIB = 1024 * 1024;

function inline(parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return Uint8Array.from(hash.digest());
}

describe('offloaded SHA-256 (worker thread)', () => {
  it('gives the inline digest for any sizes and chunking', async () => {
    await checkProperty(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 70_000 }),
            fc.constantFrom(0, 1, 262_143, 262_144, 262_145, 600_000),
          ),
          { maxLength: 8 },
        ),
        async (sizes) => {
          const parts = sizes.map((n) => new Uint8Array(randomBytes(n)));
          const hash = createOffloadedSha256();
          for (const part of parts) await hash.update(part);
          assert.deepEqual(await hash.digest(), inline(parts));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('copies its input: the caller may overwrite a chunk at once', async () => {
    const chunk = new Uint8Array(randomBytes(100_000));
    const expected = inline([chunk, chunk]);
    const hash = createOffloadedSha256();
    const copy = chunk.slice();
    await hash.update(chunk);
    chunk.fill(0);
    await hash.update(copy);
    assert.deepEqual(await hash.digest(), expected);
  });

  it('asks the producer to wait once 4 MiB are queued, then lets it go on', async () => {
    const chunk = new Uint8Array(MIB);
    const hash = createOffloadedSha256();
    const parts: Uint8Array[] = [];
    let waited: Promise<void> | undefined;
    // Five MiB without awaiting: the worker cannot have acknowledged them all.
    for (let i = 0; i < 5; i++) {
      parts.push(chunk);
      waited = hash.update(chunk) ?? waited;
    }
    assert.ok(waited !== undefined, 'update returned no promise past the 4 MiB budget');
    await waited;
    assert.deepEqual(await hash.digest(), inline(parts));
  });

  it('abort lets a producer parked on backpressure go, and ends the hash', async () => {
    const hash = createOffloadedSha256();
    let parked: Promise<void> | undefined;
    for (let i = 0; i < 5; i++) parked = hash.update(new Uint8Array(MIB)) ?? parked;
    hash.abort();
    await parked;
    hash.abort(); // a second abort is a no-op
    assert.throws(
      () => hash.update(new Uint8Array(1)),
      (error: unknown) => CryptoError.is(error, 'invalid-argument'),
    );
  });

  it('refuses to be used after its digest', async () => {
    const hash = createOffloadedSha256();
    await hash.update(new Uint8Array(10));
    await hash.digest();
    assert.throws(
      () => hash.update(new Uint8Array(1)),
      (error: unknown) => CryptoError.is(error, 'invalid-argument'),
    );
    assert.throws(
      () => void hash.digest(),
      (error: unknown) => CryptoError.is(error, 'invalid-argument'),
    );
  });

  it('a worker that goes away fails running hashes with offload-failed; the next one works', async () => {
    const running = createOffloadedSha256();
    await running.update(new Uint8Array(1000));
    await closeSha256Worker();
    assert.throws(
      () => running.update(new Uint8Array(1)),
      (error: unknown) => CryptoError.is(error, 'offload-failed'),
    );
    const pending = createOffloadedSha256();
    const digest = pending.digest().then(
      (bytes) => bytes,
      (error: unknown) => error,
    );
    await closeSha256Worker();
    // Either the worker answered first or the close failed it: never a hang.
    const outcome = await digest;
    assert.ok(
      outcome instanceof Uint8Array || CryptoError.is(outcome, 'offload-failed'),
      String(outcome),
    );
    const fresh = createOffloadedSha256();
    await fresh.update(Uint8Array.of(1, 2, 3));
    assert.deepEqual(await fresh.digest(), inline([Uint8Array.of(1, 2, 3)]));
    await closeSha256Worker();
  });

  // Each child ends its script with work left on the worker; it must exit
  // by itself, with status 0. A child kept alive would be killed by the
  // spawn timeout and fail the test.
  const children: Record<string, string> = {
    'a hash started and left (nothing ever awaited the worker)': `
      const left = nodeCrypto.createOffloadedSha256();
      left.update(new Uint8Array(1024 * 1024));
    `,
    'one attachment finished, another abandoned mid-decrypt, a hash left over': `
      const key = nodeCrypto.randomBytes(32);
      const plain = nodeCrypto.randomBytes(12 * 1024 * 1024);
      const run = encryptAttachment(nodeCrypto, key, 'document', plain);
      const parts = [];
      for await (const part of run.ciphertext) parts.push(part);
      const blob = Buffer.concat(parts);
      async function* chunks() { for (let i = 0; i < blob.length; i += 65536) yield blob.subarray(i, i + 65536); }
      for await (const _ of decryptAttachment(nodeCrypto, { mediaKey: key, type: 'document', ...run.digests() }, chunks())) break;
      const left = nodeCrypto.createOffloadedSha256();
      left.update(new Uint8Array(8 * 1024 * 1024));
    `,
  };
  for (const [name, body] of Object.entries(children)) {
    it(`does not keep a process alive: ${name}`, async () => {
      const script = `
        import { nodeCrypto } from './src/crypto/node.ts';
        import { encryptAttachment, decryptAttachment } from './src/client/core/attachments/media-crypto.ts';
        ${body}
        console.log('done');
      `;
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        {
          cwd: new URL('../..', import.meta.url).pathname,
          stdio: ['ignore', 'pipe', 'inherit'],
          timeout: 60_000,
        },
      );
      let out = '';
      child.stdout.on('data', (data: Buffer) => (out += data.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0);
      assert.equal(out.trim(), 'done');
    });
  }
});
