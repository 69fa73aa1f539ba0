/**
 * `quintet logout`: a companion removes itself from its account, then wipes
 * its keys and messages and says so.
 */
import type { Command } from 'commander';
import { runCommand } from '../run.js';
import { openProfileDevice } from '../session.js';
import { explainLinkingFailure } from './device-errors.js';
import { wipeProfile } from './logged-out.js';
import { serverHelp, serverOption } from '../server-option.js';

/** Adds `logout` to the program. */
export function addLogoutCommand(program: Command): void {
  program
    .command('logout')
    .description('log this companion device out of its account and wipe its keys')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .action((options: { profile?: string; server?: string }) =>
      runCommand({}, async (context) => {
        const device = await openProfileDevice(options, context, false);
        const account = await device.store.account.getRequired();
        try {
          await device.logout();
        } catch (error) {
          throw explainLinkingFailure(error);
        } finally {
          await device.close();
        }
        const dir = context.profile ?? '';
        await wipeProfile(dir, undefined, account, 'logout');
        process.stdout.write(
          `logged out: ${account.account} device ${account.deviceId}; keys and messages wiped from ${dir}\n`,
        );
      }),
    );
}
