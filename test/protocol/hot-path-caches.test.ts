/**
 * The hot-path reuse in the protocol core must never change a result: the
 * ratchet private-key cache hands out a key only for identical stored bytes,
 * and `ProtoWriter.encode` (a reused buffer) writes exactly what a fresh
 * writer writes, also when nested or when a stale writer is used afterwards.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCrypto } from '../../src/crypto/node.js';
import { generateKeyPair, keyPairFromPrivate } from '../../src/protocol/curve.js';
import {
  cachedRatchetPrivateKey,
  clearRatchetKeyCache,
  forgetRatchetKey,
  rememberRatchetKey,
} from '../../src/protocol/ratchet-key-cache.js';
import { SignalMessageV4 } from '../../src/protocol/pq/messages-v4.js';
import { ProtoWriter } from '../../src/protocol/wire.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);

describe('ratchet private-key cache', () => {
  it('returns the remembered key object for identical stored bytes', async () => {
    clearRatchetKeyCache();
    const pair = await generateKeyPair(nodeCrypto, random);
    const stored = pair.privateKey.toStorageBytes();
    rememberRatchetKey(pair.publicKey.serialize(), pair.privateKey, stored);
    assert.equal(
      cachedRatchetPrivateKey(pair.publicKey.serialize(), stored.slice()),
      pair.privateKey,
    );
  });

  it('never hands out a cached key for different stored bytes', async () => {
    clearRatchetKeyCache();
    const pair = await generateKeyPair(nodeCrypto, random);
    const other = await generateKeyPair(nodeCrypto, random);
    rememberRatchetKey(
      pair.publicKey.serialize(),
      pair.privateKey,
      pair.privateKey.toStorageBytes(),
    );
    // Same public key as the cache entry, other private bytes (a corrupt or
    // foreign record): the key must come from the bytes, not the cache.
    const key = cachedRatchetPrivateKey(
      pair.publicKey.serialize(),
      other.privateKey.toStorageBytes(),
    );
    assert.notEqual(key, pair.privateKey);
    const derived = await keyPairFromPrivate(nodeCrypto, key);
    assert.ok(derived.publicKey.equals(other.publicKey));
  });

  it('rebuilds a forgotten key from its bytes', async () => {
    clearRatchetKeyCache();
    const pair = await generateKeyPair(nodeCrypto, random);
    const stored = pair.privateKey.toStorageBytes();
    rememberRatchetKey(pair.publicKey.serialize(), pair.privateKey, stored);
    forgetRatchetKey(pair.publicKey.serialize());
    const key = cachedRatchetPrivateKey(pair.publicKey.serialize(), stored);
    assert.notEqual(key, pair.privateKey);
    assert.deepEqual(key.serialize(), pair.privateKey.serialize());
  });

  it('refuses malformed stored bytes as fromStorageBytes does', () => {
    clearRatchetKeyCache();
    assert.throws(() => cachedRatchetPrivateKey(new Uint8Array(33), new Uint8Array(5)));
  });
});

describe('ProtoWriter.encode', () => {
  const write = (w: ProtoWriter, n: number): void => {
    w.uint(1, n).bytes(2, new Uint8Array(n).fill(n & 0xff));
    w.message(3, (m) => m.uint(1, n * 7));
  };
  const fresh = (n: number): Uint8Array => {
    const w = new ProtoWriter();
    write(w, n);
    return w.finish();
  };

  it('writes what a fresh writer writes, for small and buffer-growing sizes', () => {
    for (const n of [0, 1, 300, 5000, 70_000, 3]) {
      assert.deepEqual(
        ProtoWriter.encode((w) => write(w, n)),
        fresh(n),
        `size ${n}`,
      );
    }
  });

  it('handles nested calls and writers kept past their call', () => {
    let kept: ProtoWriter | undefined;
    const outer = ProtoWriter.encode((w) => {
      kept = w;
      w.uint(1, 1);
      const inner = ProtoWriter.encode((v) => write(v, 40));
      assert.deepEqual(inner, fresh(40));
      w.bytes(2, inner);
    });
    const expected = new ProtoWriter().uint(1, 1).bytes(2, fresh(40)).finish();
    assert.deepEqual(outer, expected);
    // A stale writer writes into a buffer of its own, not the reused one.
    kept?.uint(9, 9);
    assert.deepEqual(
      ProtoWriter.encode((w) => write(w, 12)),
      fresh(12),
    );
  });

  it('returns a copy the next encoding cannot change', () => {
    const first = ProtoWriter.encode((w) => write(w, 20));
    const snapshot = first.slice();
    ProtoWriter.encode((w) => write(w, 21));
    assert.deepEqual(first, snapshot);
  });

  it('frames: zeros, what a fresh writer writes, zeros; an array of its own', () => {
    for (const n of [0, 300, 5000, 70_000]) {
      const framed = ProtoWriter.encodeFramed(3, 8, (w) => write(w, n));
      const expected = new Uint8Array(3 + fresh(n).length + 8);
      expected.set(fresh(n), 3);
      assert.deepEqual(framed, expected, `size ${n}`);
      assert.equal(framed.byteOffset, 0);
      assert.equal(framed.buffer.byteLength, framed.length);
    }
    const framed = ProtoWriter.encodeFramed(1, 1, (w) => write(w, 20));
    const snapshot = framed.slice();
    ProtoWriter.encode((w) => write(w, 21));
    assert.deepEqual(framed, snapshot);
  });

  it('counts the bytes written so far', () => {
    ProtoWriter.encode((w) => {
      assert.equal(w.length, 0);
      w.uint(1, 5);
      assert.equal(w.length, 2);
      w.bytes(2, new Uint8Array(10));
      assert.equal(w.length, 14);
    });
  });
});

describe('SignalMessageV4.create', () => {
  it('holds the fields as a parse of its bytes does, independent of the inputs', async () => {
    const ratchet = await generateKeyPair(nodeCrypto, random);
    for (const pqLength of [0, 1, 40, 200]) {
      const ciphertext = random(176);
      const pqRatchet = random(pqLength);
      const message = await SignalMessageV4.create(
        nodeCrypto,
        {
          senderRatchetKey: ratchet.publicKey,
          counter: 300,
          previousCounter: 7,
          ciphertext,
          pqRatchet,
        },
        random(32),
        random(33),
        random(33),
      );
      const parsed = SignalMessageV4.deserialize(message.serialized);
      assert.deepEqual(message.ciphertext, ciphertext);
      assert.deepEqual(message.pqRatchet, pqRatchet);
      assert.deepEqual(parsed.ciphertext, message.ciphertext);
      assert.deepEqual(parsed.pqRatchet, message.pqRatchet);
      assert.equal(parsed.counter, 300);
      assert.equal(parsed.previousCounter, 7);
      const snapshot = message.serialized.slice();
      ciphertext.fill(0);
      pqRatchet.fill(0);
      assert.deepEqual(message.serialized, snapshot);
      assert.notDeepEqual(message.ciphertext, ciphertext);
    }
  });
});
