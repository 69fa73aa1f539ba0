/**
 * `quintet link`: turns a new profile into a companion device of an
 * existing account. It shows a QR code plus the same link code as text,
 * refreshes it whenever the server's reference expires, and completes the
 * link once the primary approves (`quintet devices approve <code>`).
 *
 * The link code carries the linking secret: it goes to stdout for the user
 * to scan or copy, and nowhere else (no log, no error message).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import QRCode from 'qrcode';
import { linkDevice, nodePlatform } from '../../sdk/index.js';
import { CliError } from '../cli-error.js';
import { createProfileStore, DEFAULT_SERVER_URL, profileDir, profileExists } from '../profile.js';
import { runCommand } from '../run.js';
import { explainLinkingFailure } from './device-errors.js';
import { awaitLinkHistory } from './link-history.js';
import { removeProfileDatabase } from './logged-out.js';
import { terminalText } from '../terminal-text.js';
import { serverHelp, serverOption } from '../server-option.js';

interface LinkOptions {
  readonly profile?: string;
  readonly server?: string;
  readonly name?: string;
  readonly timeout: number;
  readonly history: boolean;
  readonly historyWait: number;
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

async function showCode(offer: { text: string; expiresAt: number }): Promise<void> {
  const qr = await QRCode.toString(offer.text, { type: 'terminal', small: true });
  const left = Math.max(1, Math.round((offer.expiresAt - Date.now()) / 1000));
  process.stdout.write(
    `${qr}\nlink code: ${offer.text}\n` +
      `On the primary device run: quintet devices approve '<link code>'  (this code expires in ${left}s)\n`,
  );
}

/**
 * A profile may be linked when it is new, or when its device was logged
 * out (it then holds only the logged-out mark, which is replaced).
 */
async function checkProfileFree(dir: string): Promise<boolean> {
  if (!profileExists(dir)) return false;
  const store = createProfileStore(dir);
  const existing = await store.account.get().finally(() => store.close());
  if (existing === undefined) return false;
  if (existing.loggedOut === undefined) {
    throw new CliError(`profile ${dir} already holds the account "${existing.account}"`);
  }
  return true;
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
      '--history-wait <seconds>',
      'how long to wait for the primary to send account state (default 120)',
      seconds,
      120,
    )
    .action((options: LinkOptions) =>
      runCommand({}, async (context) => {
        const dir = profileDir(options.profile);
        context.profile = dir;
        const serverUrl = options.server ?? DEFAULT_SERVER_URL;
        context.server = serverUrl;
        const replacesLoggedOut = await checkProfileFree(dir);
        // The hand-off happens on one connection; the whole list is stored.
        // The profile is written only once the approval verified.
        let linked;
        try {
          linked = await linkDevice({
            store: () => {
              if (replacesLoggedOut) removeProfileDatabase(dir);
              return createProfileStore(dir);
            },
            platform: nodePlatform,
            servers: serverUrl,
            deviceName: options.name ?? 'quintet-cli',
            platformTag: 'cli',
            timeoutMs: options.timeout * 1000,
            onEvent: (event) => (event.type === 'link-code' ? showCode(event) : undefined),
          });
        } catch (error) {
          throw explainLinkingFailure(error);
        }
        await linked.store.close();
        process.stdout.write(
          `linked: ${terminalText(linked.account)} device ${linked.deviceId}; profile ${dir}\n`,
        );
        if (options.history) {
          await awaitLinkHistory(
            { profile: dir, server: serverUrl },
            context,
            options.historyWait * 1000,
          );
        }
      }),
    );
}
