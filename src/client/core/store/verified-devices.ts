/**
 * The verified device views: for each account this device talks to (and its
 * own), the pinned account key, the newest signed device list accepted, and
 * the devices that passed Automatic Device Verification with their identity
 * keys. It is what identity trust is decided from (see protocol-stores.ts):
 * device 1 must present the pinned account key, a companion exactly the key
 * its ADV-verified identity vouched for — a server cannot slip in a key.
 *
 * Layout (table `verified-devices`): `name/account` holds the header,
 * `name/d/<device id>` one row per verified device. A per-device row keeps
 * the identity check on every encrypt and decrypt to one small read.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  VerifiedAccountRecordSchema,
  VerifiedDeviceRecordSchema,
} from '../../../gen/quintet/v1/client_store_pb.js';
import { ClientError } from '../errors.js';
import type { KeyValueView } from './kv.js';

/** Table name; part of the persisted format. */
export const VERIFIED_DEVICES_TABLE = 'verified-devices';

const PUBLIC_KEY_LENGTH = 33;

/** The signed list an account view was last validated against. */
export interface AcceptedList {
  /** Seconds since the epoch: the rollback floor for later lists. */
  readonly timestamp: number;
  readonly rawId: number;
  readonly currentIndex: number;
  readonly validIndexes: readonly number[];
}

/** The header of an account's verified view. */
export interface VerifiedAccount {
  /** The pinned account (primary identity) key, 33 bytes serialized. */
  readonly accountKey: Uint8Array;
  /** The newest accepted signed list; undefined while the account has none. */
  readonly list: AcceptedList | undefined;
  /** ms, this device's clock. */
  readonly updatedAt: number;
}

/** One verified device. */
export interface VerifiedDevice {
  readonly deviceId: number;
  /** 33 bytes serialized. */
  readonly identityKey: Uint8Array;
  /** 0 for the primary. */
  readonly keyIndex: number;
  readonly registrationId: number;
}

/** A whole view, as written after a validation. */
export interface VerifiedView {
  readonly account: VerifiedAccount;
  readonly devices: readonly VerifiedDevice[];
}

/** Verified device views per account. */
export interface VerifiedDeviceStore {
  getAccount(name: string): Promise<VerifiedAccount | undefined>;
  getDevice(name: string, deviceId: number): Promise<VerifiedDevice | undefined>;
  /** Every verified device of `name`, by ascending device id. */
  listDevices(name: string): Promise<VerifiedDevice[]>;
  /** Replaces the whole view of `name` (header and devices). */
  replace(name: string, view: VerifiedView): Promise<void>;
  /** Adds or replaces one device (a companion verified from an incoming message). */
  putDevice(name: string, device: VerifiedDevice): Promise<void>;
  /** Forgets everything about `name`. */
  delete(name: string): Promise<void>;
}

function deviceIdKey(id: number): string {
  // Fixed width so listing sorts numerically.
  return id.toString().padStart(10, '0');
}

function headerKey(name: string): string {
  // '/' cannot occur in account names, so one account never lists another's rows.
  return `${name}/account`;
}

function devicePrefix(name: string): string {
  return `${name}/d/`;
}

function decode<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new ClientError('invalid-record', `stored ${what} record does not parse`, {
      cause: error,
    });
  }
}

function checkKey(key: Uint8Array, what: string): Uint8Array {
  if (key.length !== PUBLIC_KEY_LENGTH) {
    throw new ClientError('invalid-record', `stored ${what} key has the wrong length`);
  }
  return key;
}

/** Encodes a view header (exported for the store-format snapshot test). */
export function encodeVerifiedAccount(value: VerifiedAccount): Uint8Array {
  return toBinary(
    VerifiedAccountRecordSchema,
    create(VerifiedAccountRecordSchema, {
      accountKey: value.accountKey,
      hasList: value.list !== undefined,
      listTimestamp: BigInt(value.list?.timestamp ?? 0),
      rawId: value.list?.rawId ?? 0,
      currentIndex: value.list?.currentIndex ?? 0,
      validIndexes: [...(value.list?.validIndexes ?? [])],
      updatedAt: BigInt(value.updatedAt),
    }),
  );
}

/** Decodes a view header; `ClientError('invalid-record')` when damaged. */
export function decodeVerifiedAccount(bytes: Uint8Array): VerifiedAccount {
  const record = decode('verified account', () => fromBinary(VerifiedAccountRecordSchema, bytes));
  return {
    accountKey: checkKey(record.accountKey, 'account'),
    list: record.hasList
      ? {
          timestamp: Number(record.listTimestamp),
          rawId: record.rawId,
          currentIndex: record.currentIndex,
          validIndexes: [...record.validIndexes],
        }
      : undefined,
    updatedAt: Number(record.updatedAt),
  };
}

function encodeDevice(device: VerifiedDevice): Uint8Array {
  return toBinary(
    VerifiedDeviceRecordSchema,
    create(VerifiedDeviceRecordSchema, {
      identityKey: device.identityKey,
      keyIndex: device.keyIndex,
      registrationId: device.registrationId,
    }),
  );
}

function decodeDevice(deviceId: number, bytes: Uint8Array): VerifiedDevice {
  const record = decode('verified device', () => fromBinary(VerifiedDeviceRecordSchema, bytes));
  return {
    deviceId,
    identityKey: checkKey(record.identityKey, 'device identity'),
    keyIndex: record.keyIndex,
    registrationId: record.registrationId,
  };
}

/** The verified device store over one view (direct or inside a transaction). */
export function verifiedDeviceStore(view: KeyValueView): VerifiedDeviceStore {
  const listDevices = async (name: string): Promise<VerifiedDevice[]> => {
    const prefix = devicePrefix(name);
    const entries = await view.list(VERIFIED_DEVICES_TABLE, prefix);
    return entries.map((entry) =>
      decodeDevice(Number(entry.key.slice(prefix.length)), entry.value),
    );
  };
  const deleteAll = async (name: string): Promise<void> => {
    for (const entry of await view.list(VERIFIED_DEVICES_TABLE, devicePrefix(name))) {
      await view.delete(VERIFIED_DEVICES_TABLE, entry.key);
    }
  };
  return {
    async getAccount(name) {
      const bytes = await view.get(VERIFIED_DEVICES_TABLE, headerKey(name));
      return bytes === undefined ? undefined : decodeVerifiedAccount(bytes);
    },
    async getDevice(name, deviceId) {
      const bytes = await view.get(
        VERIFIED_DEVICES_TABLE,
        devicePrefix(name) + deviceIdKey(deviceId),
      );
      return bytes === undefined ? undefined : decodeDevice(deviceId, bytes);
    },
    listDevices,
    async replace(name, value) {
      await deleteAll(name);
      await view.put(VERIFIED_DEVICES_TABLE, headerKey(name), encodeVerifiedAccount(value.account));
      for (const device of value.devices) {
        await view.put(
          VERIFIED_DEVICES_TABLE,
          devicePrefix(name) + deviceIdKey(device.deviceId),
          encodeDevice(device),
        );
      }
    },
    putDevice: (name, device) =>
      view.put(
        VERIFIED_DEVICES_TABLE,
        devicePrefix(name) + deviceIdKey(device.deviceId),
        encodeDevice(device),
      ),
    async delete(name) {
      await deleteAll(name);
      await view.delete(VERIFIED_DEVICES_TABLE, headerKey(name));
    },
  };
}
