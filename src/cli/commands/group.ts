/**
 * `quintet group create|add|remove|leave|send` and `quintet groups`: group
 * membership (signed changes, verified by every member) and group messages
 * (Sender Keys, server fanout). See docs/groups.md.
 *
 * Group commands print refused changes and refused devices on stderr as
 * warnings, so a server that tampers with a group is never silent.
 */
import type { Command } from 'commander';
import {
  type ClientEvent,
  type GroupView,
  parseGroupId,
  toHex,
  validateAccountName,
} from '../../sdk/index.js';
import { runCommand } from '../run.js';
import { noticeLine } from './notices.js';
import { openClientSession, type ClientCommandOptions, type ClientSession } from '../session.js';
import { terminalText } from '../terminal-text.js';
import { sessionBlobs, uploadFile } from '../attachment-transfer.js';
import { attachmentJson, messageBody } from './send.js';
import { serverHelp, serverOption } from '../server-option.js';

type Options = ClientCommandOptions & { json?: boolean };

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

async function withSession(
  options: Options,
  account: string | undefined,
  body: (session: ClientSession) => Promise<void>,
): Promise<void> {
  await runCommand(account === undefined ? {} : { account }, async (context) => {
    const session = await openClientSession(options, false, context);
    try {
      await body(session);
    } finally {
      await session.close();
      for await (const event of session.events) {
        const line = groupNoticeLine(event);
        if (line !== undefined) process.stderr.write(`${line}\n`);
      }
    }
  });
}

function describe(view: GroupView): Record<string, unknown> {
  return {
    group: view.groupId,
    name: view.name,
    version: view.version,
    members: [...view.members].map(([account, admin]) => ({ account, admin })),
  };
}

function printView(view: GroupView, json: boolean, verb: string): void {
  if (json) process.stdout.write(`${JSON.stringify(describe(view))}\n`);
  else
    process.stdout.write(
      `${terminalText(`${verb} ${view.groupId}`)} (version ${view.version}, ${view.members.size} members)\n`,
    );
}

function common(command: Command): Command {
  return command
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--json', 'print the result as JSON');
}

/** Adds `group …` and `groups` to the program. */
export function addGroupCommands(program: Command): void {
  const group = program.command('group').description('create and use end-to-end-encrypted groups');
  common(
    group
      .command('create')
      .description('create a group (you are its admin); prints the group id')
      .argument('<name>', 'group name')
      .argument('<accounts...>', 'the other members'),
  ).action((name: string, accounts: string[], options: Options) =>
    withSession(options, undefined, async (session) => {
      for (const account of accounts) validateAccountName(account);
      const view = await session.client.groups.create(name, accounts);
      if (options.json === true) process.stdout.write(`${JSON.stringify(describe(view))}\n`);
      else process.stdout.write(`${terminalText(view.groupId)}\n`);
    }),
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
    ).action((groupText: string, account: string, options: Options) =>
      withSession(options, account, async (session) => {
        validateAccountName(account);
        const id = parseGroupId(groupText);
        const view =
          verb === 'add'
            ? await session.client.groups.add(id, account)
            : await session.client.groups.remove(id, account);
        printView(view, options.json === true, `${account} ${past}`);
      }),
    );
  }
  common(
    group.command('leave').description('leave a group').argument('<group>', 'group id'),
  ).action((groupText: string, options: Options) =>
    withSession(options, undefined, async (session) => {
      const view = await session.client.groups.leave(parseGroupId(groupText));
      printView(view, options.json === true, 'left');
    }),
  );
  common(
    group
      .command('send')
      .description('send a text message to every member device')
      .argument('<group>', 'group id')
      .argument('[text]', 'message text (with --file: the caption)')
      .option('--file <path>', 'send this file as an encrypted attachment')
      .option('--caption <text>', 'caption of the --file attachment'),
  ).action(
    (
      groupText: string,
      text: string | undefined,
      options: Options & { file?: string; caption?: string },
    ) =>
      withSession(options, undefined, async (session) => {
        const body = messageBody(text, options);
        // One session does both: the upload's credential and the group send.
        const attachment =
          options.file === undefined
            ? undefined
            : await uploadFile(sessionBlobs(session.client, session.serverUrl), options.file);
        const sent = await session.client.groups.send(parseGroupId(groupText), body, attachment);
        const id = toHex(sent.message.id);
        if (options.json === true) {
          process.stdout.write(
            `${JSON.stringify({ id, group: sent.message.chat, recipients: sent.recipients, distributed: sent.distributed, rotated: sent.rotated, refused: sent.refused, queuedOnly: sent.queuedOnly, sentAt: sent.message.sentAt, ...attachmentJson(attachment) })}\n`,
          );
        } else {
          process.stdout.write(
            `sent ${id} to group ${terminalText(sent.message.chat)} (${sent.recipients} device(s))\n`,
          );
        }
      }),
  );
  common(program.command('groups').description('list your groups with their members')).action(
    (options: Options) =>
      withSession(options, undefined, async (session) => {
        const groups = await session.client.groups.list();
        for (const g of groups) {
          if (options.json === true) {
            process.stdout.write(
              `${JSON.stringify({ group: g.groupId, name: g.name, version: g.version, members: g.members })}\n`,
            );
          } else {
            // Group and account names are chosen by others: terminal-safe.
            const members = g.members.map((m) => (m.admin ? `${m.account} (admin)` : m.account));
            process.stdout.write(
              `${terminalText(`${g.groupId} ${g.name}: ${members.join(', ')}`)}\n`,
            );
          }
        }
      }),
  );
}
