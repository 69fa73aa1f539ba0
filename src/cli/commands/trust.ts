/**
 * `quintet trust <account> [--verified]`: the user's trust decision about a
 * contact's account key. When the contact's account key changed (a
 * reinstalled primary, or a server substituting keys), nothing is sent to
 * the contact until this command accepts the new key; it prints the new
 * safety number first, so the user can compare it. `--verified` records that
 * the number was compared (a verified contact whose key changes can only be
 * accepted again with `--verified`).
 */
import type { Command } from 'commander';
import { validateAccountName } from '../../sdk/index.js';
import { runCommand } from '../run.js';
import { terminalText } from '../terminal-text.js';
import { printNotices } from './notices.js';
import { formatSafetyNumber } from './safety-number.js';
import { openClientSession, type ClientCommandOptions } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';

type TrustOptions = ClientCommandOptions & { verified?: boolean; json?: boolean };

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
      runCommand({ account }, async (context) => {
        validateAccountName(account);
        const session = await openClientSession(options, false, context);
        try {
          const decision = await session.client.trust(account, {
            verified: options.verified === true,
          });
          const digits = formatSafetyNumber(decision.safetyNumber.displayable);
          if (options.json === true) {
            process.stdout.write(
              `${JSON.stringify({ account, safetyNumber: decision.safetyNumber.displayable, changed: decision.changed, verified: decision.verified })}\n`,
            );
          } else {
            const who = terminalText(account);
            const what = decision.changed
              ? `accepted the new account key of ${who}`
              : `the account key of ${who} was already accepted`;
            const mark = decision.verified ? ' (verified)' : '';
            process.stdout.write(`${what}${mark}\nsafety number: ${digits}\n`);
          }
        } finally {
          await session.close();
          await printNotices(session.events);
        }
      }),
    );
}
