/**
 * Device lifetimes (multidevice.md §7): companions are logged out when the
 * primary has not connected for 14 days (`primary-inactive`), and a
 * companion idle for 30 days is removed (`inactive`). A forgotten laptop
 * therefore stops receiving copies of the account's messages on its own.
 *
 * Enforced twice: by a periodic sweep, and when a companion logs in (so a
 * device returning between sweeps is refused at once). The server's
 * injected clock is the only time source, so tests move it.
 * "Last seen" is recorded at login and logout, so a device connected right
 * now counts as active whatever its stored time says.
 */
import type { ServerContext } from './context.js';
import { PRIMARY_DEVICE_ID } from './handlers/common.js';
import { announceDeviceChangeLater } from './linking/notices.js';
import { disconnectRemoved, removeDeviceData, type RemovalReason } from './linking/removal.js';
import type { DeviceRecord, InactiveCompanion } from './store/types.js';

/** Most companions one sweep removes; the next sweep takes the rest. */
const SWEEP_BATCH = 1000;

/** Removes every companion past its lifetime; returns how many were removed. */
export async function sweepInactiveDevices(ctx: ServerContext): Promise<number> {
  const now = ctx.clock.now();
  const candidates = await ctx.store.accounts.findInactiveCompanions(
    now - ctx.limits.primaryInactiveMs,
    now - ctx.limits.companionInactiveMs,
    SWEEP_BATCH,
  );
  const changed = new Set<string>();
  let removed = 0;
  for (const candidate of candidates) {
    const reason = await stillInactive(ctx, candidate, now);
    if (reason === undefined) continue;
    const { account, deviceId } = candidate;
    const address = { account, deviceId };
    if (await removeDeviceData(ctx, address, reason)) {
      disconnectRemoved(ctx, address, reason);
      changed.add(account);
      removed += 1;
    }
  }
  for (const account of changed) announceDeviceChangeLater(ctx, account);
  return removed;
}

/**
 * Re-checks a candidate against live connections (connected right now
 * means active, whatever the stored time says). A companion of a connected
 * primary is still removed when it is itself idle too long.
 */
async function stillInactive(
  ctx: ServerContext,
  found: InactiveCompanion,
  now: number,
): Promise<RemovalReason | undefined> {
  const { account, deviceId } = found;
  // An absent primary logs its companions out even while they are online:
  // they hold copies of the account that nobody with the account key oversees.
  // Connected on any node counts (`isConnected` says yes when the bus cannot tell).
  if (
    found.reason === 'primary-inactive' &&
    !(await ctx.devices.isConnected({ account, deviceId: PRIMARY_DEVICE_ID }))
  ) {
    return 'primary-inactive';
  }
  if (await ctx.devices.isConnected({ account, deviceId })) return undefined;
  if (found.reason === 'inactive') return 'inactive';
  const device = await ctx.store.accounts.getDevice(account, deviceId);
  if (device !== undefined && device.lastSeenAt < now - ctx.limits.companionInactiveMs) {
    return 'inactive';
  }
  return undefined;
}

/**
 * At a companion's login: removes it if it outlived a lifetime and returns
 * the reason (the login is then refused with `device-removed`).
 */
export async function expireAtLogin(
  ctx: ServerContext,
  device: DeviceRecord,
): Promise<RemovalReason | undefined> {
  if (device.deviceId === PRIMARY_DEVICE_ID) return undefined;
  const now = ctx.clock.now();
  let reason: RemovalReason | undefined;
  const primary = await ctx.store.accounts.getDevice(device.account, PRIMARY_DEVICE_ID);
  const primaryConnected = await ctx.devices.isConnected({
    account: device.account,
    deviceId: PRIMARY_DEVICE_ID,
  });
  if (
    !primaryConnected &&
    (primary === undefined || primary.lastSeenAt < now - ctx.limits.primaryInactiveMs)
  ) {
    reason = 'primary-inactive';
  } else if (device.lastSeenAt < now - ctx.limits.companionInactiveMs) {
    reason = 'inactive';
  }
  if (reason === undefined) return undefined;
  const address = { account: device.account, deviceId: device.deviceId };
  // Removed concurrently by someone else: the login is refused all the same.
  if (await removeDeviceData(ctx, address, reason)) {
    disconnectRemoved(ctx, address, reason);
    announceDeviceChangeLater(ctx, device.account);
  }
  return reason;
}
