/**
 * `quintet trust <account> [--verified]`: the user's trust decision about a
 * contact's account key. When the contact's account key changed (a
 * reinstalled primary, or a server substituting keys), nothing is sent to
 * the contact until this command accepts the new key; it prints the new
 * safety number first, so the user can compare it. `--verified` records that
 * the number was compared (a verified contact whose key changes can only be
 * accepted again with `--verified`). The body is in actions/trust.ts, loaded
 * only when the command runs.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import type { ClientCommandOptions } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';

/** The options of `trust`. */
export type TrustOptions = ClientCommandOptions & { verified?: boolean; json?: boolean };

/** Adds `trust` to the program. */
export function addTrustCommand(program: Command): void {
  program
    .command('trust')
    .description("accept a contact's new account key (after comparing the safety number)")
    .argument('<account>', 'the contact account')
    .option('--verified', 'mark the key verified: you compared the safety number with the contact')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--json', 'print the result as JSON')
    .action((account: string, options: TrustOptions) =>
      runCommand({ account }, async (context) =>
        (await import('../actions/trust.js')).trust(account, options, context),
      ),
    );
}
