/**
 * `quintet history <chat>`: the messages this device holds for a chat (an
 * account name, or a group id), oldest first, history imported from the
 * primary included. Reads the profile only; no server connection.
 * The body is in actions/history.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { runCommand } from '../run.js';
import { serverHelp, serverOption } from '../server-option.js';

/** The options of `history`. */
export interface HistoryOptions {
  readonly profile?: string;
  readonly server?: string;
  readonly json?: boolean;
  readonly limit?: number;
  readonly saveAttachments?: boolean;
  readonly mediaDir?: string;
}

function positive(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return parsed;
}

/** Adds `history` to the program. */
export function addHistoryCommand(program: Command): void {
  program
    .command('history')
    .description(
      'print the messages this device holds for a chat (account or group id), oldest first',
    )
    .argument('<chat>', 'an account name, or a group id')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--json', 'one JSON object per message (as `receive --json`)')
    .option('--limit <n>', 'only the newest N messages (still printed oldest first)', positive)
    .option('--save-attachments', 'download and verify the attachments (needs the server)')
    .option('--media-dir <dir>', 'where --save-attachments saves (default <profile>/media)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .action((chat: string, options: HistoryOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/history.js')).history(chat, options, context),
      ),
    );
}
