/**
 * The hand codec of src/wire/hot-frames.ts against the generated protobuf
 * code: same objects out of the decoder, same bytes out of the encoders,
 * and a fallback (never a different answer) for anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import {
  EnvelopeSchema,
  FrameSchema,
  SendMessageRequestSchema,
} from '../../src/gen/quintet/v1/transport_pb.js';
import { envelopePush } from '../../src/server/envelope-frames.js';
import { encodeFrame, pushFrame, requestFrame, responseFrame } from '../../src/wire/frame.js';
import {
  ackRequestBytes,
  ackResponseBytes,
  decodeHotRequest,
  envelopePushBytes,
  sendMessageRequestBytes,
  sendMessageResponseBytes,
} from '../../src/wire/hot-frames.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 49n) - 1n });
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const bytes = fc.uint8Array({ maxLength: 64 });

interface SendArgs {
  id: bigint;
  destination: string;
  timestamp: bigint;
  envelopes: Array<{ deviceId: number; registrationId: number; type: number; content: Uint8Array }>;
}

const sendMessage: fc.Arbitrary<SendArgs> = fc.record({
  id: u64,
  destination: text,
  timestamp: u64,
  envelopes: fc.array(
    fc.record({
      deviceId: u32,
      registrationId: u32,
      type: fc.integer({ min: 0, max: 0x7fffffff }),
      content: bytes,
    }),
    { maxLength: 4 },
  ),
});

function sendFrameBytes(m: SendArgs): Uint8Array {
  return encodeFrame(
    requestFrame(m.id, {
      case: 'sendMessage',
      value: create(SendMessageRequestSchema, {
        destination: m.destination,
        timestamp: m.timestamp,
        envelopes: m.envelopes,
      }),
    }),
  );
}

/** What the generated decoder makes of `bytes`, or 'throws'. */
function generic(bytes: Uint8Array): unknown {
  try {
    const frame = fromBinary(FrameSchema, bytes);
    return frame.kind.case === 'request' ? frame.kind.value : 'not-a-request';
  } catch {
    return 'throws';
  }
}

describe('hot frames: decoding', () => {
  it('decodes sends exactly as fromBinary does', () => {
    checkProperty(
      fc.property(sendMessage, (m) => {
        const wire = sendFrameBytes(m);
        const hot = decodeHotRequest(wire);
        assert.notEqual(hot, undefined);
        assert.deepStrictEqual(hot, generic(wire));
      }),
    );
  });

  it('decodes acks exactly as fromBinary does', () => {
    checkProperty(
      fc.property(u64, fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 })), (id, guids) => {
        const wire = encodeFrame(requestFrame(id, { case: 'ack', value: { serverGuids: guids } }));
        const hot = decodeHotRequest(wire);
        assert.notEqual(hot, undefined);
        assert.deepStrictEqual(hot, generic(wire));
      }),
    );
  });

  it('leaves other requests and newer send fields to the generated decoder', () => {
    const challenge = encodeFrame(requestFrame(1n, { case: 'challenge', value: {} }));
    assert.equal(decodeHotRequest(challenge), undefined);
    const refused = encodeFrame(
      requestFrame(2n, {
        case: 'sendMessage',
        value: { destination: 'bob', refusedDevices: [3], envelopes: [] },
      }),
    );
    assert.equal(decodeHotRequest(refused), undefined);
    assert.equal(decodeHotRequest(new Uint8Array([0x0a, 0xff, 0xff])), undefined);
    // Invalid UTF-8 in the destination: the generic decoder rejects it.
    const bad = sendFrameBytes({ id: 1n, destination: 'ab', timestamp: 0n, envelopes: [] });
    const at = bad.indexOf(0x61);
    bad[at] = 0xff;
    assert.equal(decodeHotRequest(bad), undefined);
    assert.equal(generic(bad), 'throws');
  });

  it('never disagrees with fromBinary on mutated or random bytes', () => {
    checkProperty(
      fc.property(
        sendMessage,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (m, edits) => {
          const wire = sendFrameBytes(m);
          for (const [at, value] of edits) wire[at % wire.length] = value;
          const hot = decodeHotRequest(wire);
          if (hot !== undefined) assert.deepStrictEqual(hot, generic(wire));
        },
      ),
      { numRuns: 2000 },
    );
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 80 }), (wire) => {
        const hot = decodeHotRequest(wire);
        if (hot !== undefined) assert.deepStrictEqual(hot, generic(wire));
      }),
      { numRuns: 2000 },
    );
  });
});

/** An allocator whose buffers start out full of 0xee, like reused memory. */
const dirty = (length: number): Uint8Array => new Uint8Array(length).fill(0xee);

describe('hot frames: encoding', () => {
  it('writes send and ack responses byte for byte as toBinary', () => {
    checkProperty(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }), fc.boolean(), (id, queuedOnly) => {
        assert.deepEqual(
          sendMessageResponseBytes(id, queuedOnly),
          encodeFrame(responseFrame(id, { case: 'sendMessage', value: { queuedOnly } })),
        );
        assert.deepEqual(
          ackResponseBytes(id),
          encodeFrame(responseFrame(id, { case: 'ack', value: {} })),
        );
        assert.deepEqual(
          sendMessageResponseBytes(id, queuedOnly, dirty),
          sendMessageResponseBytes(id, queuedOnly),
        );
        assert.deepEqual(ackResponseBytes(id, dirty), ackResponseBytes(id));
      }),
    );
    assert.equal(ackResponseBytes(1n << 60n), undefined);
    assert.equal(ackResponseBytes(1n << 53n), undefined);
    assert.equal(sendMessageResponseBytes(-1n, false), undefined);
  });

  it('writes envelope pushes byte for byte as toBinary', () => {
    checkProperty(
      fc.property(
        fc.record({
          guid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          source: text,
          sourceDevice: u32,
          destinationDevice: u32,
          type: fc.integer({ min: 0, max: 0x7fffffff }),
          content: bytes,
          timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          serverTimestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          sourceDeviceIdentity: fc.option(bytes, { nil: undefined }),
        }),
        (e) => {
          const expected = toBinary(
            FrameSchema,
            pushFrame({
              case: 'envelope',
              value: create(EnvelopeSchema, {
                serverGuid: e.guid,
                source: e.source,
                sourceDevice: e.sourceDevice,
                destinationDevice: e.destinationDevice,
                type: e.type,
                content: e.content,
                timestamp: BigInt(e.timestamp),
                serverTimestamp: BigInt(e.serverTimestamp),
                sourceDeviceIdentity: e.sourceDeviceIdentity ?? new Uint8Array(0),
              }),
            }),
          );
          assert.deepEqual(envelopePushBytes(e), expected);
          // Output from an allocator handing out dirty memory (as the
          // server's pooled `allocUnsafe` may): every byte is overwritten.
          assert.deepEqual(envelopePushBytes(e, dirty), expected);
          assert.deepEqual(new Uint8Array(envelopePush({ ...e, destination: 'x' })), expected);
        },
      ),
    );
  });
});

describe('hot frames: client-side encoding', () => {
  it('writes sends and acks byte for byte as toBinary', () => {
    checkProperty(
      fc.property(sendMessage, (m) => {
        assert.deepEqual(
          sendMessageRequestBytes(Number(m.id), m.destination, Number(m.timestamp), m.envelopes),
          sendFrameBytes(m),
        );
      }),
    );
    checkProperty(
      fc.property(u64, fc.array(fc.uint8Array({ maxLength: 20 })), (id, guids) => {
        assert.deepEqual(
          ackRequestBytes(Number(id), guids),
          encodeFrame(requestFrame(id, { case: 'ack', value: { serverGuids: guids } })),
        );
      }),
    );
  });
});
