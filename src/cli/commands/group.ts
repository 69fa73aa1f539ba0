/**
 * `quintet group create|add|remove|leave|send` and `quintet groups`: group
 * membership (signed changes, verified by every member) and group messages
 * (Sender Keys, server fanout). See docs/groups.md. The bodies are in
 * actions/group.ts, loaded only when a command runs.
 *
 * Group commands print refused changes and refused devices on stderr as
 * warnings, so a server that tampers with a group is never silent.
 */
import type { Command } from 'commander';
import type { ClientEvent } from '../../sdk/index.js';
import type * as GroupActions from '../actions/group.js';
import { runCommand } from '../run.js';
import { noticeLine } from './notices.js';
import type { ClientCommandOptions } from '../session.js';
import { terminalText } from '../terminal-text.js';
import { serverHelp, serverOption } from '../server-option.js';

/** The options every group command takes. */
export type GroupOptions = ClientCommandOptions & { json?: boolean };

/** The stderr line for a group event (terminal-safe); undefined for other events. */
export function groupNoticeLine(event: ClientEvent): string | undefined {
  switch (event.type) {
    case 'group-change-refused':
      return terminalText(
        `warning: group ${event.groupId}: change ${event.version} refused (${event.code}); a change nobody legitimate signed is ignored`,
      );
    case 'group-message-refused':
      return terminalText(
        `warning: group ${event.groupId}: refused a message from ${event.from} device ${event.fromDevice} (${event.reason})`,
      );
    default:
      return noticeLine(event);
  }
}

function common(command: Command): Command {
  return command
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--json', 'print the result as JSON');
}

/** The group command bodies, loaded when one runs. */
const actions = (): Promise<typeof GroupActions> => import('../actions/group.js');

/** Adds `group …` and `groups` to the program. */
export function addGroupCommands(program: Command): void {
  const group = program.command('group').description('create and use end-to-end-encrypted groups');
  common(
    group
      .command('create')
      .description('create a group (you are its admin); prints the group id')
      .argument('<name>', 'group name')
      .argument('<accounts...>', 'the other members'),
  ).action((name: string, accounts: string[], options: GroupOptions) =>
    runCommand({}, async (context) => (await actions()).create(name, accounts, options, context)),
  );
  for (const [verb, past] of [
    ['add', 'added to'],
    ['remove', 'removed from'],
  ] as const) {
    common(
      group
        .command(verb)
        .description(`${verb} a member (admins only)`)
        .argument('<group>', 'group id')
        .argument('<account>', 'member account'),
    ).action((groupText: string, account: string, options: GroupOptions) =>
      runCommand({ account }, async (context) =>
        (await actions()).member(verb, past, groupText, account, options, context),
      ),
    );
  }
  common(
    group.command('leave').description('leave a group').argument('<group>', 'group id'),
  ).action((groupText: string, options: GroupOptions) =>
    runCommand({}, async (context) => (await actions()).leave(groupText, options, context)),
  );
  common(
    group
      .command('send')
      .description('send a text message to every member device')
      .argument('<group>', 'group id')
      .argument('[text]', 'message text (with --file: the caption)')
      .option('--file <path>', 'send this file as an encrypted attachment')
      .option('--caption <text>', 'caption of the --file attachment')
      .option('--reply-to <id>', 'reply to this message of the group (its id in hex)'),
  ).action(
    (
      groupText: string,
      text: string | undefined,
      options: GroupOptions & { file?: string; caption?: string; replyTo?: string },
    ) =>
      runCommand({}, async (context) => (await actions()).send(groupText, text, options, context)),
  );
  common(program.command('groups').description('list your groups with their members')).action(
    (options: GroupOptions) =>
      runCommand({}, async (context) => (await actions()).list(options, context)),
  );
}
