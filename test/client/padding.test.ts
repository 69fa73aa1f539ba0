/**
 * Padding: property-based round trips, bucket sizes, and strict rejection of
 * every malformed padding (a peer controls these bytes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { pad, unpad, PADDING_BLOCK } from '../../src/client/core/padding.js';
import { ClientError } from '../../src/client/core/errors.js';
import { decodeContent, encodeContent, parseContent } from '../../src/client/core/content.js';

describe('padding', () => {
  it('round-trips any content', () => {
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 2_000 }), (content) => {
        const padded = pad(content);
        assert.equal(padded.length % PADDING_BLOCK, 0);
        assert.ok(padded.length > content.length);
        assert.ok(padded.length - content.length <= PADDING_BLOCK);
        assert.deepEqual(unpad(padded), content);
      }),
    );
  });

  it('hides the exact length inside a block', () => {
    assert.equal(pad(new Uint8Array(0)).length, 160);
    assert.equal(pad(new Uint8Array(159)).length, 160);
    assert.equal(pad(new Uint8Array(160)).length, 320);
  });

  it('rejects a length that is not a multiple of the block', () => {
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 1_000 }), (bytes) => {
        fc.pre(bytes.length % PADDING_BLOCK !== 0 || bytes.length === 0);
        assert.throws(
          () => unpad(bytes),
          (e) => ClientError.is(e, 'invalid-padding'),
        );
      }),
    );
  });

  it('rejects a non-zero byte after the marker, or a missing marker', () => {
    checkProperty(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        (content, junk, where) => {
          const padded = pad(content);
          const tail = padded.length - content.length - 1;
          fc.pre(tail > 0);
          const corrupted = padded.slice();
          corrupted[content.length + 1 + (where % tail)] = junk;
          // A junk 0x80 just moves the marker: accepted but not equal.
          if (junk === 0x80) return;
          assert.throws(
            () => unpad(corrupted),
            (e) => ClientError.is(e, 'invalid-padding'),
          );
        },
      ),
    );
    assert.throws(
      () => unpad(new Uint8Array(PADDING_BLOCK)),
      (e) => ClientError.is(e, 'invalid-padding'),
    );
  });

  it('never throws anything but a typed error on random bytes', () => {
    checkProperty(
      fc.property(fc.uint8Array({ minLength: 160, maxLength: 480 }), (bytes) => {
        try {
          decodeContent(bytes);
        } catch (error) {
          assert.ok(ClientError.is(error), String(error));
        }
      }),
    );
  });

  it('round-trips a data message and checks id lengths', () => {
    const id = new Uint8Array(16).fill(1);
    const padded = encodeContent({
      body: { case: 'dataMessage', value: { messageId: id, text: 'hi', timestamp: 5n } },
    });
    const content = decodeContent(padded);
    assert.equal(content.body.case, 'dataMessage');
    assert.throws(
      () => parseContent(new Uint8Array([0x0a, 0x02, 0x0a, 0x00])),
      (e) => ClientError.is(e, 'invalid-content'),
    );
  });
});
