/**
 * `quintet react|edit|delete|timer|typing`: chat events on an existing message or
 * chat (docs/protocol.md "Chat events"). Each goes end-to-end encrypted to
 * every device of the chat, this account's own other devices included, so
 * all of them end in the same state. A message is named by its id in hex,
 * as `send --json`, `receive --json` and `history --json` print it. The
 * bodies are in actions/chat.ts, loaded only when a command runs.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { parseChatTimer } from '../../sdk/values.js';
import type * as ChatActions from '../actions/chat.js';
import { runCommand } from '../run.js';
import type { ClientCommandOptions } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';

/** The options every chat command takes. */
export type ChatOptions = ClientCommandOptions & { readonly json?: boolean };

/** The chat command bodies, loaded when one runs. */
const actions = (): Promise<typeof ChatActions> => import('../actions/chat.js');

function common(command: Command): Command {
  return command
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--json', 'print the result as JSON');
}

/** `off|24h|7d|90d` to seconds, refused while parsing. */
function timerValue(value: string): number {
  const seconds = parseChatTimer(value);
  if (seconds === undefined) throw new InvalidArgumentError('one of off, 24h, 7d, 90d');
  return seconds;
}

const CHAT_HELP = 'an account name (1:1) or a group id';
const ID_HELP = 'message id in hex (as `receive --json` prints it)';

/** Adds `react`, `edit`, `delete`, `timer` and `typing` to the program. */
export function addChatCommands(program: Command): void {
  common(
    program
      .command('react')
      .description('react to a message with one emoji (replaces your earlier reaction)')
      .argument('<chat>', CHAT_HELP)
      .argument('<id>', ID_HELP)
      .argument('[emoji]', 'the emoji (not with --remove)')
      .option('--remove', 'remove your reaction instead'),
  ).action(
    (
      chat: string,
      id: string,
      emoji: string | undefined,
      options: ChatOptions & { remove?: boolean },
    ) =>
      runCommand({}, async (context) => (await actions()).react(chat, id, emoji, options, context)),
  );
  common(
    program
      .command('edit')
      .description(
        'replace the text of one of your messages (within the edit window: 15 minutes unless QUINTET_EDIT_WINDOW says otherwise)',
      )
      .argument('<chat>', CHAT_HELP)
      .argument('<id>', ID_HELP)
      .argument('<text>', 'the new text'),
  ).action((chat: string, id: string, text: string, options: ChatOptions) =>
    runCommand({}, async (context) => (await actions()).edit(chat, id, text, options, context)),
  );
  common(
    program
      .command('delete')
      .description(
        'delete a message on your devices, or with --for-everyone one of yours on every device (within the delete window: 48 hours unless QUINTET_DELETE_WINDOW says otherwise)',
      )
      .argument('<chat>', CHAT_HELP)
      .argument('<id>', ID_HELP)
      .option('--for-everyone', 'delete your message for every member of the chat'),
  ).action((chat: string, id: string, options: ChatOptions & { forEveryone?: boolean }) =>
    runCommand({}, async (context) => (await actions()).remove(chat, id, options, context)),
  );
  common(
    program
      .command('timer')
      .description('set the disappearing-message timer of a chat (in a group: admins only)')
      .argument('<chat>', CHAT_HELP)
      .argument('<setting>', 'off, 24h, 7d or 90d', timerValue),
  ).action((chat: string, seconds: number, options: ChatOptions) =>
    runCommand({}, async (context) => (await actions()).timer(chat, seconds, options, context)),
  );
  common(
    program
      .command('typing')
      .description('tell a chat you are typing (reaches only devices online now; shown for 15 s)')
      .argument('<chat>', 'an account name or a group id')
      .option('--stop', 'say you stopped typing instead'),
  ).action((chat: string, options: ChatOptions & { stop?: boolean }) =>
    runCommand({}, async (context) => (await actions()).typing(chat, options, context)),
  );
}
