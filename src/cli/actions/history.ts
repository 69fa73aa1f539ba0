/** The body of `quintet history` (commands/history.ts defines the command). */
import {
  chatHistory,
  sweepExpiredMessages,
  systemClock,
  type ChatHistoryEntry,
  type DeviceStore,
  type StoredMessage,
} from '../../sdk/index.js';
import { openProfileStore, profileDir } from '../profile.js';
import { formatMessage } from '../commands/receive.js';
import type { HistoryOptions } from '../commands/history.js';
import type { SavedAttachment } from '../attachment-saver.js';
import { mediaDir, saveAttachment, sessionBlobs } from '../attachment-transfer.js';
import { openClientSession, type SessionContext } from '../session.js';

/** Prints messages; with `save`, downloads each attachment first (its path joins the line). */
type Printer = (entries: readonly ChatHistoryEntry[]) => Promise<void>;

function printer(
  json: boolean,
  save?: (message: StoredMessage) => Promise<SavedAttachment>,
): Printer {
  return async (entries) => {
    const lines: string[] = [];
    for (const { message, read, readAt } of entries) {
      const saved =
        save !== undefined && message.attachment !== undefined ? await save(message) : undefined;
      const state = readAt === undefined ? { read } : { read, readAt };
      lines.push(`${formatMessage(message, json, saved, state)}\n`);
    }
    if (lines.length > 0) process.stdout.write(lines.join(''));
  };
}

/** Prints the messages of `chat` this device holds (downloading attachments on request). */
export async function history(
  chat: string,
  options: HistoryOptions,
  context: SessionContext,
): Promise<void> {
  if (options.saveAttachments === true) {
    await withSaving(chat, options, context);
    return;
  }
  const dir = profileDir(options.profile);
  context.profile = dir;
  const store = openProfileStore(dir);
  try {
    await printHistory(store, chat, options, printer(options.json === true));
  } finally {
    await store.close();
  }
}

async function withSaving(
  chat: string,
  options: HistoryOptions,
  context: SessionContext,
): Promise<void> {
  const session = await openClientSession(options, false, context);
  try {
    const blobs = sessionBlobs(session.client, session.serverUrl);
    const folder = mediaDir(options.mediaDir, context.profile);
    const save = async (message: StoredMessage): Promise<SavedAttachment> => {
      if (message.attachment === undefined) throw new Error('no attachment');
      try {
        return { path: await saveAttachment(blobs, message.attachment, folder) };
      } catch (error) {
        // One unreadable attachment (expired blob, tampered) must not hide the rest.
        return { error: error instanceof Error ? error.message : 'attachment failed' };
      }
    };
    await printHistory(session.store, chat, options, printer(options.json === true, save));
  } finally {
    await session.close();
  }
}

async function printHistory(
  store: DeviceStore,
  chat: string,
  options: HistoryOptions,
  print: Printer,
): Promise<void> {
  await store.account.getRequired();
  // Disappearing messages: whatever expired while no session ran is removed
  // now, so `history` never shows an expired message (chatHistory also
  // leaves out what expires meanwhile, and the marks a sweep leaves).
  await sweepExpiredMessages(store, systemClock);
  const now = systemClock.now();
  for await (const entries of chatHistory(store, chat, {
    now,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  })) {
    await print(entries);
  }
}
