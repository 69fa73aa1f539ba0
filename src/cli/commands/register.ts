/**
 * `quintet register <account>`: creates a profile, generates this device's
 * keys and registers the account with the server as its primary device.
 * The body is in actions/register.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import { DEFAULT_SERVER_URL, serverHelp, serverOption } from '../server-option.js';

export interface RegisterOptions {
  readonly profile?: string;
  readonly server?: string;
  readonly pin?: string;
  readonly deviceName?: string;
  readonly registrationToken?: string;
  /** False with `--no-post-quantum`. */
  readonly postQuantum: boolean;
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
    .option(
      '--no-post-quantum',
      'register without KEM prekeys and keep new sessions v3 (same as `settings post-quantum off`)',
    )
    .action((account: string, options: RegisterOptions) =>
      runCommand({ account }, async (context) =>
        (await import('../actions/register.js')).register(account, options, context),
      ),
    );
}
