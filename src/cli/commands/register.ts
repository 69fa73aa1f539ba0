/**
 * `quintet register <account>`: creates a profile, generates this device's
 * keys and registers the account with the server as its primary device.
 */
import type { Command } from 'commander';
import { nodePlatform, registerDevice, validateAccountName } from '../../sdk/index.js';
import { runCommand } from '../run.js';
import { savePin, obtainPin } from '../pin.js';
import { createProfileStore, DEFAULT_SERVER_URL, profileDir, profileExists } from '../profile.js';
import { CliError } from '../cli-error.js';
import { serverHelp, serverOption } from '../server-option.js';

interface RegisterOptions {
  readonly profile?: string;
  readonly server?: string;
  readonly pin?: string;
  readonly deviceName?: string;
  readonly registrationToken?: string;
}

/** Adds `register` to the program. */
export function addRegisterCommand(program: Command): void {
  program
    .command('register')
    .description('create a profile and register a new account with this device as its primary')
    .argument('<account>', 'account name: 3-32 of a-z 0-9 _ . - starting with a letter')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp(DEFAULT_SERVER_URL), serverOption)
    .option(
      '--pin <pin>',
      'local PIN (or QUINTET_PIN, or asked on a terminal); only its hash is kept',
    )
    .option('--device-name <name>', 'a name for this device')
    .option('--registration-token <token>', 'token the server requires for registration')
    .action((account: string, options: RegisterOptions) =>
      runCommand({ account }, async (context) => {
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
        });
        try {
          await savePin(local.store.settings, pin);
          process.stdout.write(
            `registered ${local.account} (device ${local.deviceId}) on ${local.server}; profile ${dir}\n`,
          );
        } finally {
          await local.store.close();
        }
      }),
    );
}
