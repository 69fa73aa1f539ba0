import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { envelopeGuid, guidSequence } from '../../src/server/store/envelope-guid.js';

const randomHalf = (fill: number) => (n: number) => new Uint8Array(n).fill(fill);

describe('envelope guids', () => {
  it('carry the sequence number big-endian, then random bytes', () => {
    const guid = envelopeGuid(0x0102_0304_0506, randomHalf(0xab));
    assert.deepEqual(
      [...guid],
      [0, 0, 1, 2, 3, 4, 5, 6, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab],
    );
  });

  it('give back every safe sequence number they were made from', () => {
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.nat(255),
        (seq, fill) => {
          assert.equal(guidSequence(envelopeGuid(seq, randomHalf(fill))), seq);
        },
      ),
    );
  });

  it('name no sequence for other lengths, zero, or numbers beyond 2^53', () => {
    assert.equal(guidSequence(new Uint8Array(15)), undefined);
    assert.equal(guidSequence(new Uint8Array(16)), undefined);
    assert.equal(guidSequence(new Uint8Array(16).fill(0xff)), undefined);
    const beyond = new Uint8Array(16);
    beyond[1] = 0x20; // 2^53
    assert.equal(guidSequence(beyond), undefined);
    // A view into a larger buffer reads its own bytes.
    const backing = new Uint8Array(32).fill(9);
    backing.set(envelopeGuid(77, randomHalf(1)), 8);
    assert.equal(guidSequence(backing.subarray(8, 24)), 77);
  });
});
