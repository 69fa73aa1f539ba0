/**
 * The device directory senders use to build their fanout, and device
 * management: remote removal and new lists (primary only), self logout.
 *
 * Every change ends with `DeviceListChanged` to the account's other devices
 * and to its subscribers, so nobody keeps encrypting to a removed device.
 */
import type {
  GetDevicesRequest,
  LogoutRequest,
  PublishDeviceListRequest,
  RemoveDeviceRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { checkDeviceList, requireNewerList, saveDeviceList } from '../linking/device-list.js';
import { announceDeviceChangeLater } from '../linking/notices.js';
import { disconnectRemoved, removeDeviceData } from '../linking/removal.js';
import {
  PRIMARY_DEVICE_ID,
  requireAccountName,
  requireDevice,
  requireDeviceId,
  requirePrimary,
} from './common.js';

/**
 * Every device of an account with its public identity key, registration
 * id, key index and signed identity, plus the account's signed list.
 * Names and created/last-seen times are given only for the caller's own
 * account: anyone may fetch anyone's device list (senders need the keys),
 * and those fields would tell a stranger what devices a person owns and
 * when each of them was last online.
 */
export async function handleGetDevices(
  ctx: ServerContext,
  connection: ClientConnection,
  request: GetDevicesRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const account = requireAccountName(request.account);
  const devices = await ctx.store.accounts.listDevices(account);
  if (devices === undefined) throw new ServiceError('unknown-account', 'no such account');
  const list = await ctx.store.accounts.getDeviceList(account);
  ctx.subscriptions.record(account, self.account);
  const own = account === self.account;
  return {
    body: {
      case: 'getDevices',
      value: {
        devices: devices.map((d) => ({
          deviceId: d.deviceId,
          registrationId: d.registrationId,
          identityKey: d.identityKey,
          keyIndex: d.keyIndex,
          signedDeviceIdentity: d.signedDeviceIdentity,
          ...(own
            ? { name: d.name, createdAt: BigInt(d.createdAt), lastSeenAt: BigInt(d.lastSeenAt) }
            : {}),
        })),
        signedKeyIndexList: list?.signedList ?? new Uint8Array(0),
      },
    },
  };
}

/**
 * Remote logout by the primary, with a new signed list that no longer
 * names the device's key index (otherwise senders would keep trusting it).
 */
export async function handleRemoveDevice(
  ctx: ServerContext,
  connection: ClientConnection,
  request: RemoveDeviceRequest,
): Promise<HandlerResult> {
  const self = requirePrimary(connection);
  const deviceId = requireDeviceId(request.deviceId);
  if (deviceId === PRIMARY_DEVICE_ID) {
    throw new ServiceError('malformed-request', 'the primary cannot be removed; it is the account');
  }
  const [primary, target] = await Promise.all([
    ctx.store.accounts.getDevice(self.account, PRIMARY_DEVICE_ID),
    ctx.store.accounts.getDevice(self.account, deviceId),
  ]);
  if (primary === undefined) throw new ServiceError('unknown-device', 'no primary device');
  if (target === undefined) throw new ServiceError('unknown-device', 'no such device');
  const list = await checkDeviceList(ctx, request.signedKeyIndexList, primary.identityKey);
  if (list.validIndexes.includes(target.keyIndex)) {
    throw new ServiceError('invalid-device-list', "the new list still names the device's index");
  }
  await requireNewerList(ctx, self.account, list);
  await saveDeviceList(ctx, self.account, list);
  const address = { account: self.account, deviceId };
  if (await removeDeviceData(ctx, address, 'removed')) disconnectRemoved(ctx, address, 'removed');
  return {
    body: { case: 'removeDevice', value: {} },
    after: () => announceDeviceChangeLater(ctx, self.account, self),
  };
}

/**
 * A companion logs itself out. Its index stays in the signed list until
 * the primary publishes a new one (it is told by `DeviceListChanged`); the
 * server stops serving the device at once.
 */
export async function handleLogout(
  ctx: ServerContext,
  connection: ClientConnection,
  _request: LogoutRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  if (self.deviceId === PRIMARY_DEVICE_ID) {
    throw new ServiceError(
      'primary-cannot-logout',
      'the primary holds the account key and cannot log out',
    );
  }
  await removeDeviceData(ctx, self, 'logout');
  return {
    body: { case: 'logout', value: {} },
    // The answer goes out first, then the LoggedOut push and the close.
    after: () => {
      disconnectRemoved(ctx, self, 'logout');
      announceDeviceChangeLater(ctx, self.account, self);
    },
  };
}

/** The primary publishes a newer signed list (after a logout, or to renew it). */
export async function handlePublishDeviceList(
  ctx: ServerContext,
  connection: ClientConnection,
  request: PublishDeviceListRequest,
): Promise<HandlerResult> {
  const self = requirePrimary(connection);
  const primary = await ctx.store.accounts.getDevice(self.account, PRIMARY_DEVICE_ID);
  if (primary === undefined) throw new ServiceError('unknown-device', 'no primary device');
  const list = await checkDeviceList(ctx, request.signedKeyIndexList, primary.identityKey);
  await requireNewerList(ctx, self.account, list);
  await saveDeviceList(ctx, self.account, list);
  return {
    body: { case: 'publishDeviceList', value: {} },
    after: () => announceDeviceChangeLater(ctx, self.account, self),
  };
}
