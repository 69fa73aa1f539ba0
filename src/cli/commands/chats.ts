/**
 * `quintet chats`: the device's chat list — every chat it holds messages
 * of, every group and every contact (a new companion's come from its
 * primary's account state) — with message and unread counts, the most
 * recent first. Reads the profile only; no server connection.
 */
import type { Command } from 'commander';
import { listChats, type ChatListEntry } from '../../client/core/chat-list.js';
import { openProfileStore, profileDir } from '../profile.js';
import { runCommand } from '../run.js';
import { terminalText } from '../terminal-text.js';

interface ChatsOptions {
  readonly profile?: string;
  readonly json?: boolean;
}

function formatEntry(entry: ChatListEntry, json: boolean): string {
  if (json) return JSON.stringify({ type: 'chat', ...entry });
  const last =
    entry.lastSentAt === undefined ? 'no messages' : new Date(entry.lastSentAt).toISOString();
  // Contact names came from another device: terminal-safe.
  return `${terminalText(entry.chat)} (${entry.kind}): ${entry.messages} messages, ${entry.unread} unread, last ${last}`;
}

/** Adds `chats` to the program. */
export function addChatsCommand(program: Command): void {
  program
    .command('chats')
    .description('list the chats this device knows, with message and unread counts')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--json', 'one JSON object per chat')
    .action((options: ChatsOptions) =>
      runCommand({}, async (context) => {
        const dir = profileDir(options.profile);
        context.profile = dir;
        const store = openProfileStore(dir);
        try {
          const account = await store.account.getRequired();
          const entries = await listChats(store, account.account);
          const lines = entries.map((entry) => `${formatEntry(entry, options.json === true)}\n`);
          if (lines.length > 0) process.stdout.write(lines.join(''));
        } finally {
          await store.close();
        }
      }),
    );
}
