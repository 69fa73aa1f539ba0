/** Small checks shared by request handlers. */
import { isValidAccountName } from '../../wire/account-name.js';
import type { ClientConnection } from '../connection.js';
import type { DeviceAddress, ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import type { QueueBounds } from '../store/types.js';

/** The connection's device, or `unauthenticated`. */
export function requireDevice(connection: ClientConnection): DeviceAddress {
  const device = connection.device;
  if (device === undefined) {
    throw new ServiceError('unauthenticated', 'authenticate first');
  }
  return device;
}

/** A syntactically valid account name, or `invalid-account-name`. */
export function requireAccountName(name: string): string {
  if (!isValidAccountName(name)) {
    throw new ServiceError('invalid-account-name', 'not a valid account name');
  }
  return name;
}

/** Exactly `length` bytes, or `malformed-request`. */
export function requireLength(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.length !== length) {
    throw new ServiceError('malformed-request', `${what} must be ${length} bytes`);
  }
  return bytes;
}

/** A device id in 1..2^31-1, or `malformed-request`. */
export function requireDeviceId(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 0x7fffffff) {
    throw new ServiceError('malformed-request', 'device id out of range');
  }
  return id;
}

/** The primary device's id: it holds the account key. */
export const PRIMARY_DEVICE_ID = 1;

/** The connection's device if it is the primary, else `not-primary`. */
export function requirePrimary(connection: ClientConnection): DeviceAddress {
  const device = requireDevice(connection);
  if (device.deviceId !== PRIMARY_DEVICE_ID) {
    throw new ServiceError('not-primary', 'only the primary device may do this');
  }
  return device;
}

/** Each recipient device's queue bounds: the store refuses a send past them (`queue-full`). */
export function queueBounds(ctx: ServerContext): QueueBounds {
  return { maxCount: ctx.limits.maxQueuedEnvelopes, maxBytes: ctx.limits.maxQueuedBytes };
}
