/**
 * Managing an account's devices: listing them, remote logout of a companion
 * by the primary, a companion logging itself out, and the primary re-signing
 * its list after a companion left on its own.
 *
 * Removing a device re-signs the key-index list without that device's
 * index. The server stops serving the device either way, but the signed
 * list is what makes every sender drop it (validation step 3) even if the
 * server kept serving it.
 */
import type { ProtocolContext } from '../../protocol/context.js';
import { PRIMARY_DEVICE_ID } from '../../protocol/adv/index.js';
import { loadPrimary, saveLinkState } from './linking/approve.js';
import { LinkingError } from './linking/errors.js';
import { signKeyIndexList } from './linking/link-state.js';
import type { ServerApi } from './server-api.js';
import type { DeviceStore } from './store/device-store.js';
import { isPrimaryAccount, type LocalAccount } from './store/records.js';

/** One device of the account, as listed to the user. */
export interface DeviceSummary {
  readonly deviceId: number;
  readonly name: string;
  readonly primary: boolean;
  /** When it was registered or linked, ms since the epoch. */
  readonly linkedAt: number;
  /** When the server last saw it, ms since the epoch (0: never). */
  readonly lastSeenAt: number;
  /** Its index in the key-index list (0 for the primary). */
  readonly keyIndex: number;
  /** Whether this is the device running the command. */
  readonly current: boolean;
}

/** The devices of this device's own account, primary first. */
export async function listOwnDevices(store: DeviceStore, api: ServerApi): Promise<DeviceSummary[]> {
  const account = await store.account.getRequired();
  const devices = await api.getDevices(account.account);
  return devices
    .map((device) => ({
      deviceId: device.deviceId,
      name: device.name,
      primary: device.deviceId === PRIMARY_DEVICE_ID,
      linkedAt: Number(device.createdAt),
      lastSeenAt: Number(device.lastSeenAt),
      keyIndex: device.keyIndex,
      current: device.deviceId === account.deviceId,
    }))
    .sort((a, b) => a.deviceId - b.deviceId);
}

/**
 * Remote logout (primary only, after local authentication): signs a new
 * list without the companion's key index and sends `RemoveDevice`. The
 * index comes from the primary's own record of what it vouched for; only a
 * companion linked before this profile kept records falls back to the
 * server's word (a lie there could only drop another companion, which the
 * server can do anyway by not serving it).
 */
export async function removeCompanion(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
  deviceId: number,
): Promise<void> {
  const primary = await loadPrimary(ctx, store);
  if (deviceId === PRIMARY_DEVICE_ID) {
    throw new LinkingError('unknown-device', 'the primary cannot be removed; it is the account');
  }
  let keyIndex = primary.link.companions[deviceId];
  if (keyIndex === undefined) {
    const served = (await api.getDevices(primary.account.account)).find(
      (device) => device.deviceId === deviceId,
    );
    if (served === undefined) {
      throw new LinkingError('unknown-device', `this account has no device ${deviceId}`);
    }
    keyIndex = served.keyIndex;
  }
  const companions: Record<number, number> = { ...primary.link.companions };
  delete companions[deviceId];
  const removed = keyIndex;
  const validIndexes = Object.values(companions).filter((index) => index !== removed);
  const list = await signKeyIndexList(ctx, primary.identity, primary.link, validIndexes);
  await api.removeDevice(deviceId, list.signedKeyIndexList);
  await saveLinkState(store, { ...primary.link, ...list, companions });
}

/**
 * A companion logs itself out (`Logout`). The primary cannot: it holds the
 * account key, and without it no companion could be vouched for again.
 * The caller wipes the local keys afterwards.
 */
export async function logoutCompanion(store: DeviceStore, api: ServerApi): Promise<LocalAccount> {
  const account = await store.account.getRequired();
  if (isPrimaryAccount(account)) {
    throw new LinkingError(
      'primary-cannot-logout',
      'the primary device cannot log out; it holds the account key',
    );
  }
  await api.logout();
  return account;
}

/**
 * How long after approval a companion that the server does not list yet is
 * still taken to be completing its link (the server allows 5 minutes).
 */
export const LINK_COMPLETION_GRACE_MS = 10 * 60 * 1000;

/**
 * Primary only: after a `DeviceListChanged` for its own account (e.g. a
 * companion logged itself out), drops from the signed list every companion
 * the server no longer serves and publishes the new list. Devices are only
 * ever removed here, never added from server data. Returns whether a new
 * list was published.
 */
export async function pruneOwnDeviceList(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
): Promise<boolean> {
  const primary = await loadPrimary(ctx, store);
  const served = new Set(
    (await api.getDevices(primary.account.account)).map((device) => device.deviceId),
  );
  const companions: Record<number, number> = {};
  const now = ctx.clock.now();
  let changed = false;
  for (const [device, index] of Object.entries(primary.link.companions)) {
    const approvedAt = primary.link.approvedAt?.[Number(device)] ?? 0;
    // A companion approved moments ago is not served until it completes its
    // side of the link; dropping it now would unlink it from under itself.
    const completing = now - approvedAt < LINK_COMPLETION_GRACE_MS;
    if (served.has(Number(device)) || completing) companions[Number(device)] = index;
    else changed = true;
  }
  if (!changed) return false;
  const list = await signKeyIndexList(
    ctx,
    primary.identity,
    primary.link,
    Object.values(companions),
  );
  await api.publishDeviceList(list.signedKeyIndexList);
  await saveLinkState(store, { ...primary.link, ...list, companions });
  return true;
}

/** The server's logout reasons, in words for the user. */
export const LOGOUT_REASONS: Readonly<Record<string, string>> = {
  removed: 'removed by the primary device',
  logout: 'logged out on this device',
  'primary-inactive': 'the primary device was inactive for 14 days',
  inactive: 'this device was inactive for 30 days',
  'account-reset': 'the account was registered again with a new account key',
};

/**
 * The account record of a logged-out device: the identity is kept only as
 * a name and the mark; the caller must drop keys, sessions and prekeys
 * (everything that could still decrypt or authenticate).
 */
export function loggedOutAccount(account: LocalAccount, reason: string, at: number): LocalAccount {
  return {
    account: account.account,
    deviceId: account.deviceId,
    registrationId: account.registrationId,
    serverUrl: account.serverUrl,
    createdAt: account.createdAt,
    nextPreKeyId: account.nextPreKeyId,
    signedPreKeyId: account.signedPreKeyId,
    loggedOut: { reason: reason === '' ? 'removed' : reason, at },
  };
}

/** Refuses to run anything on a logged-out profile. */
export function assertNotLoggedOut(account: LocalAccount): void {
  if (account.loggedOut !== undefined) {
    throw new LinkingError(
      'logged-out',
      `this device was logged out (${account.loggedOut.reason})`,
    );
  }
}
