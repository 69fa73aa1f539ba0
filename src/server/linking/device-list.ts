/**
 * The server's checks on a signed device list (`ADVSignedKeyIndexList`).
 *
 * Clients do not trust the server with the device set: they verify every
 * list themselves (validation steps 2–5). The server checks anyway, as
 * defense in depth: a list not signed by the account key, or older than
 * the stored one, is refused where it enters, so a buggy or malicious
 * client cannot make the server serve garbage or roll an account back.
 */
import { PublicKey } from '../../protocol/curve.js';
import { AdvError, verifySignedKeyIndexList } from '../../protocol/adv/index.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { StoreError, type StoredDeviceList } from '../store/types.js';

/** Largest signed list accepted (a list of 4 companions is ~120 bytes). */
export const MAX_DEVICE_LIST_BYTES = 4096;

/** A list that verified under the account key. */
export interface CheckedDeviceList {
  readonly stored: StoredDeviceList;
  readonly rawId: number;
  readonly currentIndex: number;
  readonly validIndexes: readonly number[];
}

/**
 * Parses `bytes` and verifies its signature by `accountKey` (the primary's
 * 33-byte identity key); `invalid-device-list` for anything else.
 */
export async function checkDeviceList(
  ctx: ServerContext,
  bytes: Uint8Array,
  accountKey: Uint8Array,
): Promise<CheckedDeviceList> {
  if (bytes.length === 0) {
    throw new ServiceError('invalid-device-list', 'a signed device list is required');
  }
  if (bytes.length > MAX_DEVICE_LIST_BYTES) {
    throw new ServiceError('invalid-device-list', 'signed device list is too large');
  }
  try {
    const list = await verifySignedKeyIndexList(ctx, bytes, PublicKey.deserialize(accountKey));
    return {
      // A plain copy: request bytes may be a view into the frame's Buffer.
      stored: { signedList: new Uint8Array(bytes), timestamp: list.timestamp },
      rawId: list.rawId,
      currentIndex: list.currentIndex,
      validIndexes: list.validIndexes,
    };
  } catch (error) {
    if (AdvError.is(error)) {
      throw new ServiceError(
        'invalid-device-list',
        'device list is malformed or not signed by the account key',
        {},
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Fails early with `device-list-rollback` unless `list` is newer than the
 * stored one (the store checks again atomically when it saves).
 */
export async function requireNewerList(
  ctx: ServerContext,
  account: string,
  list: CheckedDeviceList,
): Promise<void> {
  const current = await ctx.store.accounts.getDeviceList(account);
  if (current !== undefined && current.timestamp >= list.stored.timestamp) {
    throw new ServiceError('device-list-rollback', 'device list is not newer than the stored one');
  }
}

/** Saves a checked list, mapping a lost race to `device-list-rollback`. */
export async function saveDeviceList(
  ctx: ServerContext,
  account: string,
  list: CheckedDeviceList,
): Promise<void> {
  try {
    await ctx.store.accounts.setDeviceList(account, list.stored);
  } catch (error) {
    if (StoreError.is(error, 'device-list-rollback')) {
      throw new ServiceError(
        'device-list-rollback',
        'device list is not newer than the stored one',
        {},
        { cause: error },
      );
    }
    throw error;
  }
}
