/**
 * Safety numbers: byte-for-byte equality with libsignal-client's
 * `Fingerprint.new`, the comparison rules, and typed errors on bad input.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import {
  Fingerprint as SignalFingerprint,
  PublicKey as SignalPublicKey,
} from '@signalapp/libsignal-client';
import { generateSigningKeyPair, type PublicKey } from '../../src/protocol/curve.js';
import { compareScannable, createFingerprint } from '../../src/protocol/fingerprint.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { browserCrypto } from '../../src/crypto/browser.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);
const utf8 = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s);
const theirs = (key: PublicKey): SignalPublicKey =>
  SignalPublicKey.deserialize(new Uint8Array(key.serialize()));

async function keys(): Promise<[PublicKey, PublicKey]> {
  const a = await generateSigningKeyPair(nodeCrypto, random);
  const b = await generateSigningKeyPair(nodeCrypto, random);
  return [a.publicKey, b.publicKey];
}

describe('fingerprint', () => {
  it('equals libsignal-client (displayable and scannable), on both providers', async () => {
    for (const crypto of [nodeCrypto, browserCrypto]) {
      for (const [iterations, version] of [
        [5200, 2],
        [1024, 1],
        [2, 0],
      ] as const) {
        const [localKey, remoteKey] = await keys();
        const localIdentifier = utf8('+14152222222');
        const remoteIdentifier = random(16);
        const ours = await createFingerprint(crypto, {
          version,
          iterations,
          localIdentifier,
          localKey,
          remoteIdentifier,
          remoteKey,
        });
        const reference = SignalFingerprint.new(
          iterations,
          version,
          new Uint8Array(localIdentifier),
          theirs(localKey),
          new Uint8Array(remoteIdentifier),
          theirs(remoteKey),
        );
        assert.equal(ours.displayable, reference.displayableFingerprint().toString());
        assert.deepEqual(
          new Uint8Array(ours.scannable),
          reference.scannableFingerprint().toBuffer(),
        );
      }
    }
  });

  it('defaults to version 2 and 5200 iterations', async () => {
    const [localKey, remoteKey] = await keys();
    const input = { localIdentifier: utf8('a'), localKey, remoteIdentifier: utf8('b'), remoteKey };
    const ours = await createFingerprint(nodeCrypto, input);
    const reference = SignalFingerprint.new(
      5200,
      2,
      utf8('a'),
      theirs(localKey),
      utf8('b'),
      theirs(remoteKey),
    );
    assert.equal(ours.displayable, reference.displayableFingerprint().toString());
    assert.match(ours.displayable, /^\d{60}$/);
  });

  it('both sides see the same number and their scans match crosswise', async () => {
    const [aliceKey, bobKey] = await keys();
    const alice = await createFingerprint(nodeCrypto, {
      localIdentifier: utf8('alice'),
      localKey: aliceKey,
      remoteIdentifier: utf8('bob'),
      remoteKey: bobKey,
    });
    const bob = await createFingerprint(nodeCrypto, {
      localIdentifier: utf8('bob'),
      localKey: bobKey,
      remoteIdentifier: utf8('alice'),
      remoteKey: aliceKey,
    });
    assert.equal(alice.displayable, bob.displayable);
    assert.equal(compareScannable(alice.scannable, bob.scannable), true);
    assert.equal(compareScannable(bob.scannable, alice.scannable), true);
    // Scanning your own code is not a match.
    assert.equal(compareScannable(alice.scannable, alice.scannable), false);

    // A man in the middle substitutes Bob's key: numbers and scans differ.
    const [mallory] = await keys();
    const fooled = await createFingerprint(nodeCrypto, {
      localIdentifier: utf8('alice'),
      localKey: aliceKey,
      remoteIdentifier: utf8('bob'),
      remoteKey: mallory,
    });
    assert.notEqual(fooled.displayable, bob.displayable);
    assert.equal(compareScannable(fooled.scannable, bob.scannable), false);
  });

  it('different versions are an invalid-version error, not a mismatch', async () => {
    const [a, b] = await keys();
    const input = {
      localIdentifier: utf8('a'),
      localKey: a,
      remoteIdentifier: utf8('b'),
      remoteKey: b,
      iterations: 2,
    };
    const v1 = await createFingerprint(nodeCrypto, { ...input, version: 1 });
    const v2 = await createFingerprint(nodeCrypto, {
      ...input,
      version: 2,
      localIdentifier: utf8('b'),
      localKey: b,
      remoteIdentifier: utf8('a'),
      remoteKey: a,
    });
    assert.throws(
      () => compareScannable(v1.scannable, v2.scannable),
      (e: unknown) => ProtocolError.is(e, 'invalid-version'),
    );
  });

  it('rejects bad iteration counts like libsignal', async () => {
    const [a, b] = await keys();
    for (const iterations of [0, 1, 1_000_001, 2.5]) {
      await assert.rejects(
        createFingerprint(nodeCrypto, {
          iterations,
          localIdentifier: utf8('a'),
          localKey: a,
          remoteIdentifier: utf8('b'),
          remoteKey: b,
        }),
        RangeError,
      );
    }
  });

  it('malformed scanned bytes give ProtocolError, never a crash or true', async () => {
    const [a, b] = await keys();
    const good = await createFingerprint(nodeCrypto, {
      iterations: 2,
      localIdentifier: utf8('a'),
      localKey: a,
      remoteIdentifier: utf8('b'),
      remoteKey: b,
    });
    // Truncations of a valid code.
    for (let n = 0; n < good.scannable.length; n++) {
      assert.throws(
        () => compareScannable(good.scannable, good.scannable.subarray(0, n)),
        (e: unknown) => ProtocolError.is(e),
      );
    }
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          return compareScannable(good.scannable, bytes) === false;
        } catch (err) {
          return (
            ProtocolError.is(err, 'invalid-message') || ProtocolError.is(err, 'invalid-version')
          );
        }
      }),
      { numRuns: 500 },
    );
  });
});
