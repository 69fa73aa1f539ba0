/**
 * What every command does once the server says this device was removed
 * (remote logout, self logout, inactivity): mark the profile logged out,
 * wipe the keys, and say so in one line — never a silent failure (the
 * auto-unlink complaint of Signal-Desktop#4730).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError } from '../../client/core/errors.js';
import { LOGOUT_REASONS, loggedOutAccount } from '../../client/core/device-admin.js';
import type { DeviceStore } from '../../client/core/store/device-store.js';
import type { LocalAccount } from '../../client/core/store/records.js';
import { CliError } from '../cli-error.js';
import { createProfileStore } from '../profile.js';

/** Server error codes meaning "this device no longer exists". */
const REMOVED_CODES: ReadonlySet<string> = new Set(['device-removed', 'logged-out']);

/** Whether `error` is the server refusing a device that was removed. */
export function isDeviceRemovedError(error: unknown): boolean {
  return ClientError.is(error, 'server-error') && REMOVED_CODES.has(error.serverCode ?? '');
}

/** The line every command prints on a logged-out profile. */
export function loggedOutError(reason: string): CliError {
  const words = LOGOUT_REASONS[reason];
  return new CliError(
    `this device was logged out (${reason})${words === undefined ? '' : `: ${words}`}; link it again with "quintet link"`,
  );
}

/** Refuses to run on a profile already marked logged out. */
export function refuseIfLoggedOut(account: LocalAccount): void {
  if (account.loggedOut !== undefined) throw loggedOutError(account.loggedOut.reason);
}

const DATABASE_FILES = ['device.db', 'device.db-wal', 'device.db-shm'];

/** Deletes the profile database files (the store must be closed). */
export function removeProfileDatabase(dir: string): void {
  for (const file of DATABASE_FILES) rmSync(join(dir, file), { force: true });
}

/**
 * Wipes the profile after a logout: closes `store`, deletes the database
 * (keys, sessions, prekeys, messages, PIN hash) and writes a fresh one that
 * holds only the logged-out mark, so later commands can say what happened.
 */
export async function wipeProfile(
  dir: string,
  store: DeviceStore,
  account: LocalAccount,
  reason: string,
): Promise<void> {
  await store.close();
  removeProfileDatabase(dir);
  const fresh = createProfileStore(dir);
  try {
    await fresh.account.put(loggedOutAccount(account, reason, Date.now()));
  } finally {
    await fresh.close();
  }
}
