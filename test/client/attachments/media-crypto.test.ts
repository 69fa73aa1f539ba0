import assert from 'node:assert/strict';
import { createCipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decryptAttachment,
  encryptAttachment,
  encryptedSize,
  MEDIA_KEY_INFO,
  OFFLOAD_MIN_BYTES,
  mediaTypeOf,
  type MediaType,
} from '../../../src/client/core/attachments/media-crypto.js';
import { AttachmentError } from '../../../src/client/core/attachments/errors.js';
import { nodeCrypto } from '../../../src/crypto/node.js';
import { createOffloadedSha256 } from '../../../src/crypto/node-sha256-offload.js';
import type { CryptoProvider } from '../../../src/crypto/provider.js';
import { providers, sequence, toHex } from '../../crypto/providers.js';
import { checkProperty } from '../../property.js';

async function* split(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const size = Math.max(1, sizes.length === 0 ? bytes.length : (sizes[i++ % sizes.length] ?? 1));
    yield bytes.slice(offset, offset + size);
    offset += size;
  }
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Uint8Array.from(Buffer.concat(parts));
}

async function seal(
  crypto: CryptoProvider,
  key: Uint8Array,
  type: MediaType,
  plain: Uint8Array,
  sizes: readonly number[] = [],
) {
  const run = encryptAttachment(crypto, key, type, split(plain, sizes));
  const blob = await collect(run.ciphertext);
  return { blob, digests: run.digests() };
}

/** The construction spelled out on raw node:crypto calls, independent of the module. */
function reference(key: Uint8Array, info: string, plain: Uint8Array): Uint8Array {
  const expanded = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 112));
  const iv = expanded.subarray(0, 16);
  const cipher = createCipheriv('aes-256-cbc', expanded.subarray(16, 48), iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const mac = createHmac('sha256', expanded.subarray(48, 80)).update(iv).update(body).digest();
  return Uint8Array.from(Buffer.concat([body, mac.subarray(0, 10)]));
}

const sha256 = (bytes: Uint8Array) => Uint8Array.from(createHash('sha256').update(bytes).digest());

const KEY = sequence(0, 32);
const PLAIN = new TextEncoder().encode('Quintet attachment known-answer vector, 48 bytes');

describe('media crypto', () => {
  it('maps MIME types to media types', () => {
    assert.equal(mediaTypeOf('image/png'), 'image');
    assert.equal(mediaTypeOf('VIDEO/mp4'), 'video');
    assert.equal(mediaTypeOf('audio/ogg'), 'audio');
    assert.equal(mediaTypeOf('application/pdf'), 'document');
    assert.equal(mediaTypeOf(''), 'document');
  });

  for (const crypto of providers) {
    describe(crypto.name, () => {
      it('matches the known answer and raw node:crypto AES-CBC + HMAC', async () => {
        for (const type of Object.keys(MEDIA_KEY_INFO) as MediaType[]) {
          const { blob, digests } = await seal(crypto, KEY, type, PLAIN, [7, 16, 1]);
          assert.deepEqual(blob, reference(KEY, MEDIA_KEY_INFO[type], PLAIN), type);
          assert.equal(blob.length, encryptedSize(PLAIN.length));
          assert.deepEqual(digests.plaintextSha256, sha256(PLAIN));
          assert.deepEqual(digests.ciphertextSha256, sha256(blob));
          assert.equal(digests.size, PLAIN.length);
        }
        // Pinned bytes, so a change on both sides at once still shows.
        const { blob } = await seal(crypto, KEY, 'image', PLAIN);
        assert.equal(toHex(blob), KAT_IMAGE);
      });

      it('round-trips any size, in any chunking', async () => {
        await checkProperty(
          fc.asyncProperty(
            fc.oneof(
              fc.constantFrom(0, 1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097),
              fc.integer({ min: 0, max: 70_000 }),
            ),
            fc.array(fc.integer({ min: 1, max: 9_000 }), { maxLength: 6 }),
            fc.array(fc.integer({ min: 1, max: 9_000 }), { maxLength: 6 }),
            fc.constantFrom<MediaType>('image', 'document', 'history'),
            async (size, inSizes, outSizes, type) => {
              const plain = crypto.randomBytes(size);
              const key = crypto.randomBytes(32);
              const { blob, digests } = await seal(crypto, key, type, plain, inSizes);
              const back = await collect(
                decryptAttachment(
                  crypto,
                  { mediaKey: key, type, ...digests },
                  split(blob, outSizes),
                ),
              );
              assert.deepEqual(back, plain);
            },
          ),
          { numRuns: 25 },
        );
      });

      it('refuses a blob with any byte flipped, truncated, extended or under another type', async () => {
        const plain = crypto.randomBytes(100);
        const key = crypto.randomBytes(32);
        const { blob, digests } = await seal(crypto, key, 'document', plain);
        const expectation = { mediaKey: key, type: 'document' as const, ...digests };
        const refused = async (bytes: Uint8Array, what: string, type: MediaType = 'document') => {
          await assert.rejects(
            collect(decryptAttachment(crypto, { ...expectation, type }, split(bytes, [33]))),
            (error: unknown) => AttachmentError.is(error, 'tampered'),
            what,
          );
        };
        for (let i = 0; i < blob.length; i++) {
          const bad = blob.slice();
          bad[i] = (bad[i] ?? 0) ^ 0x01;
          await refused(bad, `byte ${i}`);
        }
        await refused(blob.subarray(0, blob.length - 1), 'truncated');
        await refused(blob.subarray(0, blob.length - 26), 'one block short');
        await refused(Uint8Array.from([...blob, 0]), 'extended');
        await refused(blob, 'other media type', 'image');
        // A wrong pointer hash with an intact blob is refused too.
        const wrongHash = { ...expectation, plaintextSha256: new Uint8Array(32) };
        await assert.rejects(
          collect(decryptAttachment(crypto, wrongHash, blob)),
          (error: unknown) => AttachmentError.is(error, 'tampered'),
        );
      });
    });
  }
});

describe('media crypto with the SHA-256s on a worker thread (node)', () => {
  /** nodeCrypto, counting the hashes it hands to the worker. */
  function counting(): { crypto: CryptoProvider; offloaded: () => number } {
    let n = 0;
    const crypto: CryptoProvider = {
      ...nodeCrypto,
      createOffloadedSha256: () => {
        n++;
        return createOffloadedSha256();
      },
    };
    return { crypto, offloaded: () => n };
  }

  it('offloads files of 1 MiB or more (or of unknown size), hashes smaller ones inline', async () => {
    const small = counting();
    const tiny = nodeCrypto.randomBytes(OFFLOAD_MIN_BYTES - 1);
    const key = nodeCrypto.randomBytes(32);
    const sealed = encryptAttachment(small.crypto, key, 'document', tiny);
    const blob = await collect(sealed.ciphertext);
    await collect(
      decryptAttachment(
        small.crypto,
        { mediaKey: key, type: 'document', ...sealed.digests() },
        blob,
      ),
    );
    assert.equal(small.offloaded(), 0);

    const large = counting();
    const plain = nodeCrypto.randomBytes(OFFLOAD_MIN_BYTES + 100_000);
    const run = encryptAttachment(large.crypto, key, 'video', split(plain, [70_000, 300_001]));
    const big = await collect(run.ciphertext);
    assert.equal(large.offloaded(), 2, 'unknown size: both hashes offloaded');
    const digests = run.digests();
    assert.deepEqual(digests.plaintextSha256, sha256(plain));
    assert.deepEqual(digests.ciphertextSha256, sha256(big));
    const expectation = { mediaKey: key, type: 'video' as const, ...digests };
    assert.deepEqual(
      await collect(decryptAttachment(large.crypto, expectation, split(big, [65_536]))),
      plain,
    );
    assert.equal(large.offloaded(), 4);

    // Refusals work the same through the worker.
    const flipped = big.slice();
    flipped[600_000] = (flipped[600_000] ?? 0) ^ 0x80;
    for (const [bytes, pointer, what] of [
      [flipped, expectation, 'a flipped byte'],
      [big, { ...expectation, plaintextSha256: new Uint8Array(32) }, 'a wrong plaintext hash'],
      [big, { ...expectation, ciphertextSha256: new Uint8Array(32) }, 'a wrong blob hash'],
    ] as const) {
      await assert.rejects(
        collect(decryptAttachment(large.crypto, pointer, split(bytes, [65_536]))),
        (error: unknown) => AttachmentError.is(error, 'tampered'),
        what,
      );
    }
  });
});

const KAT_IMAGE =
  'f6664c7abad727131ac13ed665127245724bd154b728fbd3d87004cee774029ef18d863f891b7c5732dae9b608ed67977648fdbcd60fd2c79c929857a1805f6620246e7c292b05ca595b';
