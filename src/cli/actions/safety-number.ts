/** The body of `quintet safety-number` (commands/safety-number.ts defines the command). */
import { validateAccountName } from '../../sdk/index.js';
import { printNotices } from '../commands/notices.js';
import { formatSafetyNumber } from '../commands/safety-number.js';
import { openClientSession, type ClientCommandOptions, type SessionContext } from '../session.js';

/** Prints the safety number with `account`, and whether a new key waits for acceptance. */
export async function safetyNumber(
  account: string,
  options: ClientCommandOptions,
  context: SessionContext,
): Promise<void> {
  validateAccountName(account);
  const session = await openClientSession(options, false, context);
  try {
    const fingerprint = await session.client.safetyNumber(account);
    process.stdout.write(`${formatSafetyNumber(fingerprint.displayable)}\n`);
    const state = await session.client.trustState(account);
    if (state.pending) {
      // Said every time, not only when the change is first seen.
      process.stderr.write(
        `notice: this is the number of ${account}'s NEW account key, not accepted yet; nothing is sent to ${account} until you run "quintet trust ${account}"${state.verified ? ' --verified' : ''} after comparing it\n`,
      );
    } else if (state.verified) {
      process.stderr.write(`notice: ${account} is marked verified\n`);
    }
  } finally {
    await session.close();
    await printNotices(session.events);
  }
}
