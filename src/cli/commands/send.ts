/**
 * `quintet send <account> <text>`: encrypts a message for every device of
 * the account and hands it to the server. `--file` uploads the file once,
 * encrypted under a fresh media key, and sends its pointer with the message
 * (the text, or `--caption`, is its caption). Queued incoming messages stay on
 * the server for `quintet receive`.
 * The body is in actions/send.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import type { ClientCommandOptions } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';

/** The options of `send`. */
export interface SendOptions extends ClientCommandOptions {
  readonly json?: boolean;
  readonly file?: string;
  readonly caption?: string;
  readonly replyTo?: string;
}

/** Adds `send` to the program. */
export function addSendCommand(program: Command): void {
  program
    .command('send')
    .description('send a text message to every device of an account')
    .argument('<account>', 'recipient account')
    .argument('[text]', 'message text (with --file: the caption)')
    .option('--file <path>', 'send this file as an encrypted attachment')
    .option('--caption <text>', 'caption of the --file attachment')
    .option('--reply-to <id>', 'reply to this message of the chat (its id in hex)')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--json', 'print the result as JSON')
    .action((account: string, text: string | undefined, options: SendOptions) =>
      runCommand({ account }, async (context) =>
        (await import('../actions/send.js')).send(account, text, options, context),
      ),
    );
}
