/** The body of `quintet chats` (commands/chats.ts defines the command). */
import { listChats, type ChatListEntry } from '../../sdk/index.js';
import type { ChatsOptions } from '../commands/chats.js';
import { openProfileStore, profileDir } from '../profile.js';
import type { SessionContext } from '../session.js';
import { terminalText } from '../terminal-text.js';

function formatEntry(entry: ChatListEntry, json: boolean): string {
  if (json) return JSON.stringify({ type: 'chat', ...entry });
  const last =
    entry.lastSentAt === undefined ? 'no messages' : new Date(entry.lastSentAt).toISOString();
  // Contact names came from another device: terminal-safe.
  return `${terminalText(entry.chat)} (${entry.kind}): ${entry.messages} messages, ${entry.unread} unread, last ${last}`;
}

/** Prints the chat list of the profile's device. */
export async function chats(options: ChatsOptions, context: SessionContext): Promise<void> {
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
}
