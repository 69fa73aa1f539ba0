/**
 * The CLI profile: a directory holding this device's SQLite store
 * (`device.db`). `--profile` wins, then `$QUINTET_PROFILE`, then `~/.quintet`.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  openProfileStore as openSdkProfileStore,
  profileExists,
  type DeviceStore,
} from '../sdk/index.js';
import { CliError } from './cli-error.js';

export { profileExists };

/** The server a fresh profile talks to. */
export { DEFAULT_SERVER_URL } from './server-option.js';

/** The profile directory from the option or the environment. */
export function profileDir(option: string | undefined): string {
  const chosen = option ?? process.env['QUINTET_PROFILE'];
  return resolve(chosen !== undefined && chosen !== '' ? chosen : join(homedir(), '.quintet'));
}

/** Opens (creating) the profile store; the directory is private to the user. */
export function createProfileStore(dir: string): DeviceStore {
  return openSdkProfileStore(dir, { create: true });
}

/** Opens an existing profile; a missing one is a clear error, not a new empty database. */
export function openProfileStore(dir: string): DeviceStore {
  if (!profileExists(dir)) {
    throw new CliError(`no profile at ${dir}; run "quintet register <account>" first`);
  }
  return openSdkProfileStore(dir);
}
