/**
 * `quintet chats`: the device's chat list — every chat it holds messages
 * of, every group and every contact (a new companion's come from its
 * primary's account state) — with message and unread counts, the most
 * recent first. Reads the profile only; no server connection.
 * The body is in actions/chats.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';

/** The options of `chats`. */
export interface ChatsOptions {
  readonly profile?: string;
  readonly json?: boolean;
}

/** Adds `chats` to the program. */
export function addChatsCommand(program: Command): void {
  program
    .command('chats')
    .description('list the chats this device knows, with message and unread counts')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--json', 'one JSON object per chat')
    .action((options: ChatsOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/chats.js')).chats(options, context),
      ),
    );
}
