/**
 * What every command does once the server says this device was removed
 * (remote logout, self logout, inactivity): mark the profile logged out,
 * wipe the keys, and say so in one line — never a silent failure (the
 * auto-unlink complaint of Signal-Desktop#4730).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  ClientError,
  type DeviceStore,
  type LocalAccount,
  loggedOutAccount,
  LOGOUT_REASONS,
} from '../../sdk/index.js';
import { CliError } from '../cli-error.js';
import { createProfileStore } from '../profile.js';

/** Whether `error` is the server refusing a device that was removed. */
export function isDeviceRemovedError(error: unknown): error is ClientError {
  return ClientError.isServer(error, 'device-removed');
}

/**
 * The logout reason of a `device-removed` refusal. The server names it in
 * its message; only the known reason words are taken from it, so a server
 * cannot put arbitrary text into the profile.
 */
export function removalReason(error: ClientError): string {
  // The server says "device removed: <reason>"; the last word is the reason.
  const text = error.serverMessage ?? '';
  const last = text.slice(text.lastIndexOf(':') + 1).trim();
  return Object.hasOwn(LOGOUT_REASONS, last) ? last : 'removed';
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
 * Wipes the profile after a logout: closes `store` (unless the caller
 * already closed it: undefined), deletes the database
 * (keys, sessions, prekeys, messages, PIN hash) and writes a fresh one that
 * holds only the logged-out mark, so later commands can say what happened.
 */
export async function wipeProfile(
  dir: string,
  store: DeviceStore | undefined,
  account: LocalAccount,
  reason: string,
): Promise<void> {
  await store?.close();
  removeProfileDatabase(dir);
  const fresh = createProfileStore(dir);
  try {
    await fresh.account.put(loggedOutAccount(account, reason, Date.now()));
  } finally {
    await fresh.close();
  }
}

/**
 * Marks the profile at `dir` logged out after a `LoggedOut` push arrived
 * during a command (the store must already be closed): wipes it like
 * `wipeProfile`, keeping only the mark.
 */
export async function markProfileLoggedOut(dir: string, reason: string): Promise<void> {
  const store = createProfileStore(dir);
  const account = await store.account.get();
  if (account === undefined || account.loggedOut !== undefined) {
    await store.close();
    return;
  }
  await wipeProfile(dir, store, account, reason === '' ? 'removed' : reason);
}
