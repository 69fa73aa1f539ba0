/**
 * `DeviceListChanged` fan-out: after any change to an account's devices
 * (link completed, removal, logout, list published, account reset), every
 * connected device of the account itself and of its subscribers is told to
 * re-fetch and re-validate the list. Offline devices learn it on their next
 * send from the device-set check.
 *
 * In a cluster the change is also published on the bus: every other node
 * drops its cached list of the account and runs the local part
 * (`pushDeviceListChangedLocally`) for the watchers connected to it.
 */
import type { DeviceAddress, ServerContext } from '../context.js';
import { deviceListChangedPush } from './push-frames.js';

/** Pushes `DeviceListChanged{account}`; `except` (the device that made the change) is skipped. */
export async function announceDeviceChange(
  ctx: ServerContext,
  account: string,
  except?: DeviceAddress,
): Promise<void> {
  ctx.devices.listChanged(account, true, except);
  await pushDeviceListChangedLocally(ctx, account, except);
}

/** The part of `announceDeviceChange` every node runs: watchers connected to this node. */
export async function pushDeviceListChangedLocally(
  ctx: ServerContext,
  account: string,
  except?: DeviceAddress,
): Promise<void> {
  // Nobody connected here: nothing to read the watchers for.
  if (ctx.devices.size === 0) return;
  const push = deviceListChangedPush(account);
  const watchers = [account, ...(await ctx.store.subscribers.listSubscribers(account))];
  for (const watcher of watchers) {
    const devices = (await ctx.store.accounts.listDevices(watcher)) ?? [];
    for (const device of devices) {
      if (except?.account === watcher && except.deviceId === device.deviceId) continue;
      // Local only: every node runs this for its own connections.
      ctx.devices.get({ account: watcher, deviceId: device.deviceId })?.sendPush(push);
    }
  }
}

/** `announceDeviceChange` off the request path; a failure is logged (a notice is only a hint). */
export function announceDeviceChangeLater(
  ctx: ServerContext,
  account: string,
  except?: DeviceAddress,
): void {
  announceDeviceChange(ctx, account, except).catch((error: unknown) => {
    ctx.logger.warn({ err: error, account }, 'could not announce a device-list change');
  });
}
