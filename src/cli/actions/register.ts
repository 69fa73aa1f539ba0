/** The body of `quintet register` (commands/register.ts defines the command). */
import {
  nodePlatform,
  registerDevice,
  setPostQuantumEnabled,
  validateAccountName,
} from '../../sdk/index.js';
import { CliError } from '../cli-error.js';
import type { RegisterOptions } from '../commands/register.js';
import { savePin, obtainPin } from '../pin.js';
import { createProfileStore, DEFAULT_SERVER_URL, profileDir, profileExists } from '../profile.js';
import type { SessionContext } from '../session.js';

/** Creates the profile and registers the account with this device as its primary. */
export async function register(
  account: string,
  options: RegisterOptions,
  context: SessionContext,
): Promise<void> {
  validateAccountName(account);
  const dir = profileDir(options.profile);
  context.profile = dir;
  const serverUrl = options.server ?? DEFAULT_SERVER_URL;
  context.server = serverUrl;
  if (profileExists(dir)) {
    const existing = createProfileStore(dir);
    const registered = await existing.account.get().finally(() => existing.close());
    if (registered !== undefined) {
      throw new CliError(`profile ${dir} already holds the account "${registered.account}"`);
    }
  }
  const pin = await obtainPin(options.pin);
  // The whole list is stored: later commands fail over between its servers.
  // The profile is created only once a server answered.
  const local = await registerDevice({
    store: () => createProfileStore(dir),
    platform: nodePlatform,
    servers: serverUrl,
    account,
    deviceName: options.deviceName ?? 'quintet-cli',
    registrationToken: options.registrationToken ?? process.env['QUINTET_REGISTRATION_TOKEN'],
    postQuantum: options.postQuantum,
  });
  try {
    await savePin(local.store.settings, pin);
    // Opted out: every later start of this profile stays v3 too.
    if (!options.postQuantum) await setPostQuantumEnabled(local.store.settings, false);
    process.stdout.write(
      `registered ${local.account} (device ${local.deviceId}) on ${local.server}; profile ${dir}\n`,
    );
  } finally {
    await local.store.close();
  }
}
