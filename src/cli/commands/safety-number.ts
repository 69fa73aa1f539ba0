/**
 * `quintet safety-number <account>`: the 60-digit number to compare with the
 * peer in person or over another channel; equal numbers mean no one
 * substituted either side's keys. One number per account pair, from the
 * account keys: linking or removing companions does not change it, a
 * reinstalled primary does (with a notice on stderr). While a changed key
 * waits for `quintet trust`, the number is the new key's, and stderr says so.
 * The body is in actions/safety-number.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import type { ClientCommandOptions } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';

/** Groups the 60 digits in twelve blocks of five, as Signal shows them. */
export function formatSafetyNumber(digits: string): string {
  return (digits.match(/.{1,5}/g) ?? []).join(' ');
}

/** Adds `safety-number` to the program. */
export function addSafetyNumberCommand(program: Command): void {
  program
    .command('safety-number')
    .description('show the safety number of your conversation with an account')
    .argument('<account>', 'the other account')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .action((account: string, options: ClientCommandOptions) =>
      runCommand({ account }, async (context) =>
        (await import('../actions/safety-number.js')).safetyNumber(account, options, context),
      ),
    );
}
