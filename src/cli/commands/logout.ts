/**
 * `quintet logout`: a companion removes itself from its account, then wipes
 * its keys and messages and says so. The body is in actions/logout.ts,
 * loaded only when the command runs.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import { serverHelp, serverOption } from '../server-option.js';

/** Adds `logout` to the program. */
export function addLogoutCommand(program: Command): void {
  program
    .command('logout')
    .description('log this companion device out of its account and wipe its keys')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .action((options: { profile?: string; server?: string }) =>
      runCommand({}, async (context) =>
        (await import('../actions/logout.js')).logout(options, context),
      ),
    );
}
