/**
 * Branded identifiers at the SDK boundary. An `AccountName` or a `DeviceId`
 * can only be made by parsing, so a caller cannot pass a raw user string
 * where a checked name is expected (a homoglyph or an empty name is refused
 * once, here, with a typed error, instead of failing later on the server).
 */
import { ClientError } from '../client/core/errors.js';
import { isValidAccountName } from '../wire/account-name.js';

declare const accountNameBrand: unique symbol;
declare const deviceIdBrand: unique symbol;

/** A valid account name (`parseAccountName`): 3–32 of `a-z 0-9 _ . -`, a letter first. */
export type AccountName = string & {
  /** Compile-time brand only: no such property exists. */
  readonly [accountNameBrand]: true;
};

/** A device id of an account (`parseDeviceId`): 1 is the primary, companions follow. */
export type DeviceId = number & {
  /** Compile-time brand only: no such property exists. */
  readonly [deviceIdBrand]: true;
};

/** The largest device id the wire carries (a signed 32-bit field). */
const MAX_DEVICE_ID = 0x7fffffff;

/**
 * Checks `value` and returns it as an `AccountName`. Throws
 * `ClientError('invalid-argument')` for anything else; the message leaves
 * the rejected text out (it is user input).
 *
 * @example
 * const bob = parseAccountName('bob');
 */
export function parseAccountName(value: string): AccountName {
  if (!isValidAccountName(value)) {
    throw new ClientError(
      'invalid-argument',
      'account names are 3-32 characters: a lower-case letter, then a-z, 0-9, "_", "." or "-"',
    );
  }
  return value as AccountName;
}

/** Whether `value` is a valid account name (no throw). */
export function isAccountName(value: string): value is AccountName {
  return isValidAccountName(value);
}

/**
 * Checks `value` (a number, or its decimal text as typed by a user) and
 * returns it as a `DeviceId`: an integer from 1 to 2^31-1. Throws
 * `ClientError('invalid-argument')` otherwise.
 *
 * @example
 * const companion = parseDeviceId('2');
 */
export function parseDeviceId(value: number | string): DeviceId {
  const parsed = typeof value === 'number' ? value : /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_DEVICE_ID) {
    throw new ClientError('invalid-argument', 'a device id is a positive integer');
  }
  return parsed as DeviceId;
}
