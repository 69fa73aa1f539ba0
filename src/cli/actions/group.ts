/** The bodies of the group commands (commands/group.ts defines them). */
import { type GroupView, parseGroupId, toHex, validateAccountName } from '../../sdk/index.js';
import { groupNoticeLine, type GroupOptions } from '../commands/group.js';
import { openClientSession, type ClientSession, type SessionContext } from '../session.js';
import { terminalText } from '../terminal-text.js';
import { sessionBlobs, uploadFile } from '../attachment-transfer.js';
import { attachmentJson, messageBody } from './send.js';
import { parseMessageId } from './chat.js';

async function withSession(
  options: GroupOptions,
  context: SessionContext,
  body: (session: ClientSession) => Promise<void>,
): Promise<void> {
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

/** `group create`. */
export function create(
  name: string,
  accounts: readonly string[],
  options: GroupOptions,
  context: SessionContext,
): Promise<void> {
  return withSession(options, context, async (session) => {
    for (const account of accounts) validateAccountName(account);
    const view = await session.client.groups.create(name, accounts);
    if (options.json === true) process.stdout.write(`${JSON.stringify(describe(view))}\n`);
    else process.stdout.write(`${terminalText(view.groupId)}\n`);
  });
}

/** `group add` and `group remove`. */
export function member(
  verb: 'add' | 'remove',
  past: string,
  groupText: string,
  account: string,
  options: GroupOptions,
  context: SessionContext,
): Promise<void> {
  return withSession(options, context, async (session) => {
    validateAccountName(account);
    const id = parseGroupId(groupText);
    const view =
      verb === 'add'
        ? await session.client.groups.add(id, account)
        : await session.client.groups.remove(id, account);
    printView(view, options.json === true, `${account} ${past}`);
  });
}

/** `group leave`. */
export function leave(
  groupText: string,
  options: GroupOptions,
  context: SessionContext,
): Promise<void> {
  return withSession(options, context, async (session) => {
    const view = await session.client.groups.leave(parseGroupId(groupText));
    printView(view, options.json === true, 'left');
  });
}

/** `group send`. */
export function send(
  groupText: string,
  text: string | undefined,
  options: GroupOptions & { file?: string; caption?: string; replyTo?: string },
  context: SessionContext,
): Promise<void> {
  const replyTo = options.replyTo === undefined ? undefined : parseMessageId(options.replyTo);
  return withSession(options, context, async (session) => {
    const body = messageBody(text, options);
    // One session does both: the upload's credential and the group send.
    const attachment =
      options.file === undefined
        ? undefined
        : await uploadFile(sessionBlobs(session.client, session.serverUrl), options.file);
    const groupId = parseGroupId(groupText);
    if (replyTo !== undefined) {
      // A reply goes through the chat sender, which adds the quote.
      const reply = await session.client.chat.send(groupId, body, {
        replyTo,
        ...(attachment === undefined ? {} : { attachment }),
      });
      const line = {
        id: toHex(reply.id),
        group: groupId,
        replyTo: toHex(replyTo),
        sentAt: reply.sentAt,
      };
      process.stdout.write(
        options.json === true
          ? `${JSON.stringify({ ...line, ...attachmentJson(attachment) })}\n`
          : `sent ${line.id} to group ${terminalText(groupId)} (a reply to ${line.replyTo})\n`,
      );
      return;
    }
    const sent = await session.client.groups.send(groupId, body, attachment);
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
  });
}

/** `groups`. */
export function list(options: GroupOptions, context: SessionContext): Promise<void> {
  return withSession(options, context, async (session) => {
    const groups = await session.client.groups.list();
    for (const g of groups) {
      if (options.json === true) {
        process.stdout.write(
          `${JSON.stringify({ group: g.groupId, name: g.name, version: g.version, members: g.members })}\n`,
        );
      } else {
        // Group and account names are chosen by others: terminal-safe.
        const members = g.members.map((m) => (m.admin ? `${m.account} (admin)` : m.account));
        process.stdout.write(`${terminalText(`${g.groupId} ${g.name}: ${members.join(', ')}`)}\n`);
      }
    }
  });
}
