/**
 * `quintet logout`: a companion removes itself from its account, then wipes
 * its keys and messages and says so.
 */
import type { Command } from 'commander';
import { logoutCompanion } from '../../client/core/device-admin.js';
import type { LocalAccount } from '../../client/core/store/records.js';
import { runCommand } from '../run.js';
import { openAdminSession } from './admin-session.js';
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
        const session = await openAdminSession(options, context);
        let account: LocalAccount;
        try {
          account = await logoutCompanion(session.store, session.api);
        } catch (error) {
          await session.close();
          throw explainLinkingFailure(error);
        }
        await session.closeTransport();
        await wipeProfile(session.dir, session.store, account, 'logout');
        process.stdout.write(
          `logged out: ${account.account} device ${account.deviceId}; keys and messages wiped from ${session.dir}\n`,
        );
      }),
    );
}
