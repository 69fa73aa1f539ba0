/**
 * `quintet settings typing [on|off]` and `quintet settings post-quantum
 * [on|off]`: this device's own settings, kept in its profile and never
 * sent anywhere. Without a value it prints the
 * current one. The body is in actions/settings.ts, loaded only when it runs.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { runCommand } from '../run.js';

export interface SettingsOptions {
  readonly profile?: string;
  readonly json?: boolean;
}

/** `on|off` to a boolean, refused while parsing. */
function onOff(value: string): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError('on or off');
}

/** Adds `settings` (with `typing` and `post-quantum`) to the program. */
export function addSettingsCommand(program: Command): void {
  const settings = program.command('settings').description("this device's settings");
  settings
    .command('typing')
    .description('show or set typing indicators (off: this device neither sends nor shows them)')
    .argument('[value]', 'on or off (omit to show)', onOff)
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--json', 'print the result as JSON')
    .action((value: boolean | undefined, options: SettingsOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/settings.js')).typingSetting(value, options, context),
      ),
    );
  settings
    .command('post-quantum')
    .description(
      'show or set post-quantum sessions (on by default: publishes KEM prekeys and starts PQXDH + SPQR sessions with devices that publish them; off: sessions this device starts are v3 and no more KEM prekeys are published)',
    )
    .argument('[value]', 'on or off (omit to show)', onOff)
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--json', 'print the result as JSON')
    .action((value: boolean | undefined, options: SettingsOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/settings.js')).postQuantumSetting(value, options, context),
      ),
    );
}
