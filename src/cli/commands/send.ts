/**
 * `quintet send <account> <text>`: encrypts a message for every device of
 * the account and hands it to the server. Queued incoming messages stay on
 * the server for `quintet receive`.
 */
import type { Command } from 'commander';
import { toHex } from '../../client/core/bytes.js';
import { validateAccountName } from '../../wire/account-name.js';
import { runCommand } from '../run.js';
import { printNotices } from './notices.js';
import { openClientSession, type ClientCommandOptions } from '../session.js';

/** Adds `send` to the program. */
export function addSendCommand(program: Command): void {
  program
    .command('send')
    .description('send a text message to every device of an account')
    .argument('<account>', 'recipient account')
    .argument('<text>', 'message text')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <url>', "server URL (default: the profile's)")
    .option('--json', 'print the result as JSON')
    .action((account: string, text: string, options: ClientCommandOptions & { json?: boolean }) =>
      runCommand({ account }, async (context) => {
        validateAccountName(account);
        const session = await openClientSession(options, false, context);
        try {
          const sent = await session.client.sendText(account, text);
          const id = toHex(sent.message.id);
          if (options.json === true) {
            process.stdout.write(
              `${JSON.stringify({ id, to: account, devices: sent.outcome.devices, refused: sent.outcome.refused, ownDevices: sent.ownDevices?.devices ?? [], queuedOnly: sent.outcome.queuedOnly, sentAt: sent.message.sentAt })}\n`,
            );
          } else {
            const where = sent.outcome.queuedOnly ? 'queued' : 'delivered to the server';
            process.stdout.write(
              `sent ${id} to ${account} (${sent.outcome.devices.length} device(s), ${where})\n`,
            );
          }
        } finally {
          await session.close();
          await printNotices(session.events);
        }
      }),
    );
}
