/** A device id within an account. The primary is always 1. */
export type DeviceId = number & { readonly __brand: 'DeviceId' };

/** Brands a number as a device id after checking its range. */
export function deviceId(value: number): DeviceId {
  if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) {
    throw new RangeError('device id must be an integer in 1..2^31-1');
  }
  return value as DeviceId;
}

/** The pairwise-session address: an account name plus one of its devices. */
export interface ProtocolAddress {
  readonly name: string;
  readonly deviceId: DeviceId;
}

export function protocolAddress(name: string, device: number): ProtocolAddress {
  return { name, deviceId: deviceId(device) };
}

/** The canonical string form used as a store key: `name.deviceId`. */
export function addressKey(address: ProtocolAddress): string {
  return `${address.name}.${address.deviceId}`;
}
