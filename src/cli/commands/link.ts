/**
 * `quintet link`: turns a new profile into a companion device of an
 * existing account. It shows a QR code plus the same link code as text,
 * refreshes it whenever the server's reference expires, and completes the
 * link once the primary approves (`quintet devices approve <code>`).
 *
 * The link code carries the linking secret: it goes to stdout for the user
 * to scan or copy, and nowhere else (no log, no error message).
 * The body is in actions/link.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { runCommand } from '../run.js';
import { DEFAULT_SERVER_URL, serverHelp, serverOption } from '../server-option.js';

export interface LinkOptions {
  readonly profile?: string;
  readonly server?: string;
  readonly name?: string;
  readonly timeout: number;
  readonly history: boolean;
  readonly historyWait: number;
  /** False with `--no-post-quantum`. */
  readonly postQuantum: boolean;
}

/** How long `link` waits for an approval by default, seconds. */
const DEFAULT_TIMEOUT_S = 300;

function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new InvalidArgumentError('must be a positive number');
  }
  return parsed;
}

/** Adds `link` to the program. */
export function addLinkCommand(program: Command): void {
  program
    .command('link')
    .description('link this new profile as a companion device of an existing account')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp(DEFAULT_SERVER_URL), serverOption)
    .option('--name <name>', 'a name for this device in the device list', 'quintet-cli')
    .option(
      '--timeout <seconds>',
      `give up after this long (default ${DEFAULT_TIMEOUT_S})`,
      seconds,
      DEFAULT_TIMEOUT_S,
    )
    .option('--no-history', 'do not wait for account state and history from the primary')
    .option(
      '--no-post-quantum',
      'link without KEM prekeys and keep new sessions v3 (same as `settings post-quantum off`)',
    )
    .option(
      '--history-wait <seconds>',
      'how long to wait for the primary to send account state (default 120)',
      seconds,
      120,
    )
    .action((options: LinkOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/link.js')).link(options, context),
      ),
    );
}
