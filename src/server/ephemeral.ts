/**
 * Ephemeral sends (typing indicators): envelopes pushed only to devices
 * connected right now — on this node directly, on another through the bus
 * — and never stored, queued or acked. A device that is not connected, or
 * whose connection's output is full, simply never gets it: an indicator
 * that arrives late is wrong, so nothing is kept to deliver it later.
 *
 * Bounds: each envelope's content is at most `maxEphemeralBytes` (a typing
 * indicator needs a few hundred), and each sending device has a token
 * bucket (`ephemeralRateBurst`, `ephemeralRatePerSecond`), so a client
 * cannot turn the server and the bus into a free relay for bulk data.
 */
import { create } from '@bufbuild/protobuf';
import { EnvelopeSchema, EnvelopeType } from '../gen/quintet/v1/transport_pb.js';
import { encodeFrame, pushFrame } from '../wire/frame.js';
import { deviceKey, type DeviceAddress, type ServerContext } from './context.js';
import { ServiceError } from './errors.js';

/** The limit name a refused ephemeral send reports with `rate-limited`. */
export const EPHEMERAL_LIMIT = 'ephemeral-per-device';

/** One envelope of an ephemeral send, for one destination device. */
export interface EphemeralEnvelope {
  readonly destination: string;
  readonly destinationDevice: number;
  readonly type: EnvelopeType;
  readonly content: Uint8Array;
  readonly groupId?: Uint8Array;
}

/** Refuses an envelope over the ephemeral size bound. */
export function checkEphemeralSize(ctx: ServerContext, contentLength: number): void {
  if (contentLength > ctx.limits.maxEphemeralBytes) {
    throw new ServiceError(
      'envelope-too-large',
      `ephemeral envelope content exceeds ${ctx.limits.maxEphemeralBytes} bytes`,
    );
  }
}

/**
 * Checks what every ephemeral send must meet: no plaintext (only retry
 * notices are plaintext, and those must be durable) and the sender's rate.
 * The rate is taken once per send, after the cheap checks.
 */
export function checkEphemeralSend(
  ctx: ServerContext,
  self: DeviceAddress,
  types: readonly EnvelopeType[],
): void {
  for (const type of types) {
    if (type === EnvelopeType.PLAINTEXT) {
      throw new ServiceError('malformed-request', 'plaintext envelopes cannot be ephemeral');
    }
  }
  const decision = ctx.ephemeralLimiter.take(deviceKey(self));
  if (!decision.allowed) {
    throw new ServiceError('rate-limited', 'too many ephemeral sends', {
      retryAfterMs: decision.retryAfterMs,
      limit: EPHEMERAL_LIMIT,
    });
  }
}

/**
 * Pushes each envelope to its device wherever it is connected; returns
 * whether any destination device is connected to this node.
 */
export function pushEphemeral(
  ctx: ServerContext,
  source: DeviceAddress,
  timestamp: number,
  envelopes: readonly EphemeralEnvelope[],
): boolean {
  const serverTimestamp = BigInt(ctx.clock.now());
  let anyHere = false;
  for (const envelope of envelopes) {
    const address = { account: envelope.destination, deviceId: envelope.destinationDevice };
    if (ctx.devices.get(address) !== undefined) anyHere = true;
    const bytes = encodeFrame(
      pushFrame({
        case: 'envelope',
        value: create(EnvelopeSchema, {
          // No guid: there is nothing in a queue to acknowledge.
          source: source.account,
          sourceDevice: source.deviceId,
          destinationDevice: envelope.destinationDevice,
          type: envelope.type,
          content: envelope.content,
          timestamp: BigInt(timestamp),
          serverTimestamp,
          ephemeral: true,
          ...(envelope.groupId === undefined ? {} : { groupId: envelope.groupId }),
        }),
      }),
    );
    ctx.devices.pushEphemeral(address, bytes);
    ctx.metrics.ephemeralPushed += 1;
  }
  return anyHere;
}
