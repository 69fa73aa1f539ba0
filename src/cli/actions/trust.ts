/** The body of `quintet trust` (commands/trust.ts defines the command). */
import { validateAccountName } from '../../sdk/index.js';
import { terminalText } from '../terminal-text.js';
import { printNotices } from '../commands/notices.js';
import { formatSafetyNumber } from '../commands/safety-number.js';
import type { TrustOptions } from '../commands/trust.js';
import { openClientSession, type SessionContext } from '../session.js';

/** Accepts `account`'s current key and prints the safety number. */
export async function trust(
  account: string,
  options: TrustOptions,
  context: SessionContext,
): Promise<void> {
  validateAccountName(account);
  const session = await openClientSession(options, false, context);
  try {
    const decision = await session.client.trust(account, {
      verified: options.verified === true,
    });
    const digits = formatSafetyNumber(decision.safetyNumber.displayable);
    if (options.json === true) {
      process.stdout.write(
        `${JSON.stringify({ account, safetyNumber: decision.safetyNumber.displayable, changed: decision.changed, verified: decision.verified })}\n`,
      );
    } else {
      const who = terminalText(account);
      const what = decision.changed
        ? `accepted the new account key of ${who}`
        : `the account key of ${who} was already accepted`;
      const mark = decision.verified ? ' (verified)' : '';
      process.stdout.write(`${what}${mark}\nsafety number: ${digits}\n`);
    }
  } finally {
    await session.close();
    await printNotices(session.events);
  }
}
