/**
 * `quintet history <chat>`: the messages this device holds for a chat (an
 * account name, or a group id), oldest first, history imported from the
 * primary included. Reads the profile only; no server connection.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { DeviceStore, StoredMessage } from '../../sdk/index.js';
import { openProfileStore, profileDir } from '../profile.js';
import { runCommand } from '../run.js';
import { formatMessage } from './receive.js';
import type { SavedAttachment } from '../attachment-saver.js';
import { mediaDir, saveAttachment, sessionBlobs } from '../attachment-transfer.js';
import { openClientSession, type SessionContext } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';

interface HistoryOptions {
  readonly profile?: string;
  readonly server?: string;
  readonly json?: boolean;
  readonly limit?: number;
  readonly saveAttachments?: boolean;
  readonly mediaDir?: string;
}

/** Prints messages; with `save`, downloads each attachment first (its path joins the line). */
type Printer = (messages: readonly StoredMessage[]) => Promise<void>;

function printer(
  json: boolean,
  save?: (message: StoredMessage) => Promise<SavedAttachment>,
): Printer {
  return async (messages) => {
    const lines: string[] = [];
    for (const message of messages) {
      const saved =
        save !== undefined && message.attachment !== undefined ? await save(message) : undefined;
      lines.push(`${formatMessage(message, json, saved)}\n`);
    }
    if (lines.length > 0) process.stdout.write(lines.join(''));
  };
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
      runCommand({}, async (context) => {
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
      }),
    );
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
  // With a limit only the newest N are kept while paging through.
  const kept: StoredMessage[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.messages.page(chat, {
      limit: 1000,
      ...(after === undefined ? {} : { after }),
    });
    if (options.limit === undefined) {
      await print(page.messages);
    } else {
      kept.push(...page.messages);
      if (kept.length > options.limit) kept.splice(0, kept.length - options.limit);
    }
    if (page.next === undefined) break;
    after = page.next;
  }
  await print(kept);
}
