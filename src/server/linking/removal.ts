/**
 * Removing a companion device, for whatever reason (remote removal by the
 * primary, self logout, inactivity, account reset): its row, keys and
 * queue go, a tombstone stays so its next login is told why, and a
 * connected session is sent `LoggedOut` and closed.
 */
import { CloseCodes } from '../connection.js';
import type { DeviceAddress, ServerContext } from '../context.js';
import { loggedOutPush } from './push-frames.js';

/** Why a device was removed: the `LoggedOut.reason` vocabulary. */
export type RemovalReason =
  'removed' | 'logout' | 'primary-inactive' | 'inactive' | 'account-reset';

/**
 * Deletes the device and its keys and records the tombstone (one store
 * write), then its queue.
 * Resolves false when it did not exist. Does not touch its connection
 * (see `disconnectRemoved`), so a self logout can be answered first.
 */
export async function removeDeviceData(
  ctx: ServerContext,
  address: DeviceAddress,
  reason: RemovalReason,
): Promise<boolean> {
  const { account, deviceId } = address;
  const removed = await ctx.store.accounts.removeDevice(account, deviceId, {
    reason,
    removedAt: ctx.clock.now(),
  });
  if (!removed) return false;
  await purgeDeviceQueue(ctx, address);
  ctx.metrics.deviceRemoved(reason);
  ctx.logger.info({ account, deviceId, reason }, 'device removed');
  return true;
}

/**
 * Deletes a removed device's queue. Runs after the store removed the row,
 * its tombstone and its keys in one transaction: should this be
 * interrupted, the queue is unreachable (ids are never reused) and still
 * expires with the message lifetime.
 */
export async function purgeDeviceQueue(ctx: ServerContext, address: DeviceAddress): Promise<void> {
  await ctx.store.queue.deleteDevice(address.account, address.deviceId);
}

/** Sends `LoggedOut{reason}` to the device's live connection, if any (on any node), and closes it. */
export function disconnectRemoved(
  ctx: ServerContext,
  address: DeviceAddress,
  reason: RemovalReason,
): void {
  ctx.devices.disconnect(address, loggedOutPush(reason), CloseCodes.loggedOut, 'device removed');
}
