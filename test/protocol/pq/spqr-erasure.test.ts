/**
 * SPQR's erasure code: GF(2^16) arithmetic, the systematic layout, and
 * decoding from any large-enough set of chunks in any order (property test).
 * The live check against libsignal's own chunks is in test/interop/pqxdh.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../../property.js';
import {
  encodeChunk,
  gfInv,
  gfMul,
  SpqrChunkDecoder,
} from '../../../src/protocol/pq/spqr-erasure.js';

describe('SPQR erasure code', () => {
  it('GF(2^16): identities, the reduction polynomial, inverses', () => {
    assert.equal(gfMul(1, 0xabcd), 0xabcd);
    assert.equal(gfMul(0, 0xabcd), 0);
    // x^15 · x = x^16 = x^12 + x^3 + x + 1 (0x100B) modulo 0x1100B.
    assert.equal(gfMul(0x8000, 2), 0x100b);
    for (const a of [1, 2, 3, 0x100b, 0xffff, 0x1234]) {
      assert.equal(gfMul(a, gfInv(a)), 1);
      assert.equal(gfMul(a, 0x5a5a), gfMul(0x5a5a, a));
    }
    assert.throws(() => gfInv(0), RangeError);
  });

  it('property: the table product equals carry-less multiplication reduced by 0x1100B', () => {
    const reference = (a: number, b: number): number => {
      let acc = 0;
      for (let bit = 0; bit < 16; bit++) if ((b >>> bit) & 1) acc ^= a << bit;
      for (let bit = 31; bit >= 16; bit--) if ((acc >>> bit) & 1) acc ^= 0x1100b << (bit - 16);
      return acc & 0xffff;
    };
    checkProperty(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (a, b) => {
          assert.equal(gfMul(a, b), reference(a, b));
          if (a !== 0) assert.equal(reference(a, gfInv(a)), 1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('chunks below ⌈len/32⌉ are the message itself (systematic)', () => {
    const message = Uint8Array.from({ length: 96 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let k = 0; k < 3; k++) {
      assert.deepEqual(encodeChunk(message, k).data, message.subarray(32 * k, 32 * k + 32));
    }
    assert.notDeepEqual(encodeChunk(message, 3).data, encodeChunk(message, 4).data);
  });

  it("spqr's own example: 'abcdefghij' decodes from chunks 1 and 2", () => {
    const message = new TextEncoder().encode('abcdefghij');
    const decoder = new SpqrChunkDecoder(10);
    decoder.add(encodeChunk(message, 1));
    assert.deepEqual(decoder.decoded(), message);
    decoder.add(encodeChunk(message, 2));
    assert.deepEqual(decoder.decoded(), message);
  });

  it('property: any ⌈len/32⌉ distinct chunks, in any order, rebuild the message; fewer do not', () => {
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 600 }).chain((half) =>
          fc.record({
            message: fc.uint8Array({ minLength: 2 * half, maxLength: 2 * half }),
            order: fc.shuffledSubarray(
              Array.from({ length: 3 * Math.ceil(half / 16) + 4 }, (_, i) => i),
              { minLength: Math.ceil(half / 16), maxLength: Math.ceil(half / 16) },
            ),
            duplicate: fc.boolean(),
          }),
        ),
        ({ message, order, duplicate }) => {
          const decoder = new SpqrChunkDecoder(message.length);
          order.forEach((index, i) => {
            assert.equal(decoder.decoded(), undefined, 'decoded before enough chunks');
            decoder.add(encodeChunk(message, index));
            if (duplicate && i === 0) decoder.add(encodeChunk(message, index));
          });
          assert.deepEqual(decoder.decoded(), message);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: every chunk equals textbook Lagrange interpolation of its polynomial', () => {
    // The encoder takes systematic points straight from the message and
    // interpolates parity in barycentric form with cached weights; this is
    // the definition it must agree with, value for value.
    const reference = (message: Uint8Array, index: number): Uint8Array => {
      const values = message.length / 2;
      const out = new Uint8Array(32);
      for (let p = 0; p < 16; p++) {
        const pts: Array<{ x: number; y: number }> = [];
        for (let i = p; i < values; i += 16) {
          pts.push({
            x: (i - p) / 16,
            y: ((message[2 * i] ?? 0) << 8) | (message[2 * i + 1] ?? 0),
          });
        }
        let y = 0;
        for (const pi of pts) {
          let term = pi.y;
          for (const pj of pts) {
            if (pj.x !== pi.x) term = gfMul(term, gfMul(index ^ pj.x, gfInv(pi.x ^ pj.x)));
          }
          y ^= term;
        }
        out[2 * p] = y >>> 8;
        out[2 * p + 1] = y & 0xff;
      }
      return out;
    };
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 640 }).chain((half) =>
          fc.record({
            message: fc.uint8Array({ minLength: 2 * half, maxLength: 2 * half }),
            index: fc.oneof(
              fc.integer({ min: 0, max: Math.ceil(half / 16) + 40 }),
              fc.integer({ min: 0, max: 0xffff }),
            ),
          }),
        ),
        ({ message, index }) => {
          assert.deepEqual(encodeChunk(message, index).data, reference(message, index));
        },
      ),
      { numRuns: 300 },
    );
    // The SPQR sizes (header, key, ct1, ct2 with their MACs) at systematic,
    // boundary and far parity indexes, including zero-valued points.
    for (const length of [96, 1152, 960, 160]) {
      const message = Uint8Array.from({ length }, (_, i) => (i % 7 === 0 ? 0 : (i * 131) & 0xff));
      for (const index of [0, length / 32 - 1, length / 32, length / 32 + 1, 1000, 0xffff]) {
        assert.deepEqual(encodeChunk(message, index).data, reference(message, index));
      }
    }
  });

  it('property: the decoder keeps exactly the points the rule says (what `add` reports is what a session stores)', () => {
    // The rule, as a model: per polynomial, a point at x < needed is kept
    // unless that x is in; any other point only while fewer than `needed`
    // are held. `add` must report a change exactly when the model changes,
    // since sessions persist only the chunks that did.
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 100 }).chain((half) =>
          fc.record({
            message: fc.uint8Array({ minLength: 2 * half, maxLength: 2 * half }),
            indexes: fc.array(
              fc.oneof(
                fc.integer({ min: 0, max: Math.ceil(half / 16) + 3 }),
                fc.integer({ min: 0, max: 0xffff }),
              ),
              { maxLength: 40 },
            ),
          }),
        ),
        ({ message, indexes }) => {
          const values = message.length / 2;
          const needed = (p: number) => Math.floor(values / 16) + (p < values % 16 ? 1 : 0);
          const model = Array.from({ length: 16 }, () => new Set<number>());
          const decoder = new SpqrChunkDecoder(message.length);
          for (const index of indexes) {
            let changed = false;
            model.forEach((held, p) => {
              if (held.has(index)) return;
              if (index < needed(p) || held.size < needed(p)) {
                held.add(index);
                changed = true;
              }
            });
            assert.equal(decoder.add(encodeChunk(message, index)), changed, `chunk ${index}`);
            const enough = model.every((held, p) => held.size >= needed(p));
            assert.deepEqual(decoder.decoded(), enough ? message : undefined);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses lengths it cannot carry', () => {
    assert.throws(() => encodeChunk(new Uint8Array(3), 0), RangeError);
    assert.throws(() => encodeChunk(new Uint8Array(4), 70_000), RangeError);
    assert.throws(() => new SpqrChunkDecoder(7), RangeError);
    const decoder = new SpqrChunkDecoder(64);
    assert.throws(() => decoder.add({ index: 0, data: new Uint8Array(31) }), {
      code: 'invalid-message',
    });
  });
});
