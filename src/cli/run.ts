/**
 * Runs one command body and turns any failure into the single stderr line
 * and non-zero exit code every client command promises.
 */
import { describeError, CliError } from './cli-error.js';
import type { SessionContext } from './session.js';
import { terminalText } from './terminal-text.js';

/** Runs `body`; on failure prints one line and sets the exit code. */
export async function runCommand(
  initial: { readonly account?: string },
  body: (context: SessionContext) => Promise<void>,
): Promise<void> {
  const context: SessionContext = {};
  try {
    await body(context);
  } catch (error) {
    const line = describeError(error, { ...context, account: initial.account });
    process.stderr.write(`quintet: ${terminalText(line)}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}
