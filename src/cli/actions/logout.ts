/** The body of `quintet logout` (commands/logout.ts defines the command). */
import { explainLinkingFailure } from '../commands/device-errors.js';
import { wipeProfile } from '../commands/logged-out.js';
import { openProfileDevice, type ClientCommandOptions, type SessionContext } from '../session.js';

/** Logs this companion out on the server, then wipes its profile. */
export async function logout(
  options: ClientCommandOptions,
  context: SessionContext,
): Promise<void> {
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
}
