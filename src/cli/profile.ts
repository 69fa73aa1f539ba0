/**
 * The CLI profile: a directory holding this device's SQLite store
 * (`device.db`). `--profile` wins, then `$QUINTET_PROFILE`, then `~/.quintet`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDeviceStore, type DeviceStore } from '../client/core/store/device-store.js';
import { SqliteBackend } from '../client/storage/sqlite-backend.js';
import { CliError } from './cli-error.js';

/** The server a fresh profile talks to. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

const DATABASE_FILE = 'device.db';

/** The profile directory from the option or the environment. */
export function profileDir(option: string | undefined): string {
  const chosen = option ?? process.env['QUINTET_PROFILE'];
  return resolve(chosen !== undefined && chosen !== '' ? chosen : join(homedir(), '.quintet'));
}

/** Whether `dir` holds a profile database. */
export function profileExists(dir: string): boolean {
  return existsSync(join(dir, DATABASE_FILE));
}

/** Opens (creating) the profile store; the directory is private to the user. */
export function createProfileStore(dir: string): DeviceStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return createDeviceStore(new SqliteBackend(join(dir, DATABASE_FILE)));
}

/** Opens an existing profile; a missing one is a clear error, not a new empty database. */
export function openProfileStore(dir: string): DeviceStore {
  if (!profileExists(dir)) {
    throw new CliError(`no profile at ${dir}; run "quintet register <account>" first`);
  }
  return createDeviceStore(new SqliteBackend(join(dir, DATABASE_FILE)));
}
