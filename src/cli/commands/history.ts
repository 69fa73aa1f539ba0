/**
 * `quintet history <chat>`: the messages this device holds for a chat (an
 * account name, or a group id), oldest first, history imported from the
 * primary included. Reads the profile only; no server connection.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { StoredMessage } from '../../client/core/store/records.js';
import { openProfileStore, profileDir } from '../profile.js';
import { runCommand } from '../run.js';
import { formatMessage } from './receive.js';

interface HistoryOptions {
  readonly profile?: string;
  readonly json?: boolean;
  readonly limit?: number;
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
    .action((chat: string, options: HistoryOptions) =>
      runCommand({}, async (context) => {
        const dir = profileDir(options.profile);
        context.profile = dir;
        const store = openProfileStore(dir);
        try {
          await store.account.getRequired();
          const json = options.json === true;
          // With a limit only the newest N are kept while paging through.
          const kept: StoredMessage[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await store.messages.page(chat, {
              limit: 1000,
              ...(after === undefined ? {} : { after }),
            });
            if (options.limit === undefined) {
              const lines = page.messages.map((message) => `${formatMessage(message, json)}\n`);
              if (lines.length > 0) process.stdout.write(lines.join(''));
            } else {
              kept.push(...page.messages);
              if (kept.length > options.limit) kept.splice(0, kept.length - options.limit);
            }
            if (page.next === undefined) break;
            after = page.next;
          }
          const lines = kept.map((message) => `${formatMessage(message, json)}\n`);
          if (lines.length > 0) process.stdout.write(lines.join(''));
        } finally {
          await store.close();
        }
      }),
    );
}
