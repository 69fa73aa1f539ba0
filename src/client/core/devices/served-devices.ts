/**
 * Turning what the server serves (`DeviceInfo` rows and the signed key-index
 * list) into the inputs of ADV validation, and the validated result into the
 * verified view that is persisted. Pure data work, no I/O.
 */
import { PublicKey } from '../../../protocol/curve.js';
import { ProtocolError } from '../../../protocol/errors.js';
import {
  decodeDeviceIdentity,
  decodeKeyIndexList,
  decodeSignedDeviceIdentity,
  decodeSignedKeyIndexList,
  PRIMARY_DEVICE_ID,
  type ServedDevice,
} from '../../../protocol/adv/index.js';
import type { DeviceInfo } from '../../../gen/quintet/v1/transport_pb.js';
import type { AcceptedList, VerifiedDevice } from '../store/verified-devices.js';

/** A served device that is not used, and why (an ADV reason or a parse failure). */
export interface RefusedDevice {
  readonly deviceId: number;
  readonly reason: string;
}

/** Served devices with parsed keys, plus those whose key did not even parse. */
export interface ParsedDevices {
  readonly served: ServedDevice[];
  readonly registrationIds: ReadonlyMap<number, number>;
  readonly unparsable: RefusedDevice[];
}

/**
 * Parses the served identity keys. A key that is not a valid Curve25519
 * point (or is small-order) makes that one device refused, never the call
 * a crash: the bytes come from the server.
 */
export function parseServedDevices(devices: readonly DeviceInfo[]): ParsedDevices {
  const served: ServedDevice[] = [];
  const registrationIds = new Map<number, number>();
  const unparsable: RefusedDevice[] = [];
  for (const info of devices) {
    let identityKey: PublicKey;
    try {
      identityKey = PublicKey.deserialize(info.identityKey);
    } catch (error) {
      if (!ProtocolError.is(error)) throw error;
      unparsable.push({ deviceId: info.deviceId, reason: 'invalid-identity-key' });
      continue;
    }
    registrationIds.set(info.deviceId, info.registrationId);
    served.push({
      deviceId: info.deviceId,
      identityKey,
      signedIdentity:
        info.deviceId === PRIMARY_DEVICE_ID || info.signedDeviceIdentity.length === 0
          ? undefined
          : info.signedDeviceIdentity,
    });
  }
  return { served, registrationIds, unparsable };
}

/**
 * The fields of an already verified signed list (validateDeviceList checked
 * the signature; this only reads the details back out for persisting).
 */
export function acceptedListOf(signedList: Uint8Array): AcceptedList {
  const list = decodeKeyIndexList(decodeSignedKeyIndexList(signedList).details);
  return {
    timestamp: list.timestamp,
    rawId: list.rawId,
    currentIndex: list.currentIndex,
    validIndexes: [...list.validIndexes],
  };
}

/** The key index inside an already verified signed identity (0 for the primary). */
export function keyIndexOf(device: ServedDevice): number {
  if (device.deviceId === PRIMARY_DEVICE_ID || device.signedIdentity === undefined) return 0;
  return decodeDeviceIdentity(decodeSignedDeviceIdentity(device.signedIdentity).details).keyIndex;
}

/** The persisted row of an accepted device. */
export function verifiedDeviceOf(
  device: ServedDevice,
  registrationIds: ReadonlyMap<number, number>,
): VerifiedDevice {
  return {
    deviceId: device.deviceId,
    identityKey: device.identityKey.serialize().slice(),
    keyIndex: keyIndexOf(device),
    registrationId: registrationIds.get(device.deviceId) ?? 0,
  };
}
