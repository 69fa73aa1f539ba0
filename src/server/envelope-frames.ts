/** Builds the push frames the server sends, encoded once each. */
import { create } from '@bufbuild/protobuf';
import { EnvelopeSchema } from '../gen/quintet/v1/transport_pb.js';
import { encodeFrame, pushFrame } from '../wire/frame.js';
import { envelopePushBytes, type FrameAllocator } from '../wire/hot-frames.js';
import type { QueuedEnvelope } from './store/types.js';

/**
 * The encoded `Push.envelope` frame of a queued envelope: hand-encoded (one
 * per delivered message, so it is hot), with the generated encoder for the
 * values the hand encoder leaves to it.
 */
export function envelopePush(envelope: QueuedEnvelope): Uint8Array {
  return envelopePushBytes(envelope, pooledBuffer) ?? genericEnvelopePush(envelope);
}

/**
 * Frames the server sends come from Node's buffer pool: no backing store
 * per frame for the garbage collector to track, and ws sends a Buffer as is
 * instead of wrapping it in one.
 */
export const pooledBuffer: FrameAllocator = (length) => Buffer.allocUnsafe(length);

function genericEnvelopePush(envelope: QueuedEnvelope): Uint8Array {
  return encodeFrame(
    pushFrame({
      case: 'envelope',
      value: create(EnvelopeSchema, {
        serverGuid: envelope.guid,
        source: envelope.source,
        sourceDevice: envelope.sourceDevice,
        destinationDevice: envelope.destinationDevice,
        type: envelope.type,
        content: envelope.content,
        timestamp: BigInt(envelope.timestamp),
        serverTimestamp: BigInt(envelope.serverTimestamp),
        ...(envelope.sourceDeviceIdentity === undefined
          ? {}
          : { sourceDeviceIdentity: envelope.sourceDeviceIdentity }),
        ...(envelope.groupId === undefined ? {} : { groupId: envelope.groupId }),
      }),
    }),
  );
}

/** The encoded `Push.queue_drained` frame. */
export const QUEUE_DRAINED_PUSH: Uint8Array = encodeFrame(
  pushFrame({ case: 'queueDrained', value: {} }),
);

/** The encoded `Push.pre_keys_low` frame (with the one-time KEM prekeys left, 0 if none). */
export function preKeysLowPush(remaining: number, kemRemaining = 0): Uint8Array {
  return encodeFrame(
    pushFrame({
      case: 'preKeysLow',
      value: { preKeysRemaining: remaining, kemPreKeysRemaining: kemRemaining },
    }),
  );
}
