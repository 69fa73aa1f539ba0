/**
 * `quintet devices`: list this account's devices; on the primary, approve a
 * new companion (`approve <link-code>`) and log one out remotely
 * (`remove <id>`). Approving and removing first authenticate the user
 * locally with the PIN (persistent lockout after 5 wrong PINs), because
 * whoever holds the primary must not be able to link a device of their own.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { decodeLinkCode } from '../../protocol/adv/index.js';
import {
  listOwnDevices,
  pruneOwnDeviceList,
  removeCompanion,
  type DeviceSummary,
} from '../../client/core/device-admin.js';
import {
  DEFAULT_HISTORY,
  parseHistoryChoice,
  type HistoryChoice,
} from '../../client/core/history/archive-builder.js';
import { approveCompanion } from '../../client/core/linking/approve.js';
import { LinkingError } from '../../client/core/linking/errors.js';
import { isPrimaryAccount } from '../../client/core/store/records.js';
import { runCommand } from '../run.js';
import { nodeContext, type SessionContext } from '../session.js';
import { obtainApprovalPin, pinGate } from '../pin.js';
import { openAdminSession, type AdminSession } from './admin-session.js';
import { explainLinkingFailure } from './device-errors.js';
import { sendCompanionHistory } from './approve-history.js';
import { terminalText } from '../terminal-text.js';
import { serverHelp, serverOption } from '../server-option.js';

interface CommonOptions {
  readonly profile?: string;
  readonly server?: string;
}

interface PinOptions extends CommonOptions {
  readonly pin?: string;
}

function deviceIdArgument(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 0x7fffffff) {
    throw new InvalidArgumentError('must be a device id (a positive integer)');
  }
  return parsed;
}

function historyOption(value: string): HistoryChoice {
  const choice = parseHistoryChoice(value);
  if (choice === undefined) throw new InvalidArgumentError('must be <N>d (e.g. 90d), all or none');
  return choice;
}

function when(ms: number): string {
  return ms <= 0 ? 'never' : new Date(ms).toISOString();
}

/** The text table of `quintet devices`; the current device is marked `*`. */
export function formatDevices(devices: readonly DeviceSummary[]): string {
  const lines = devices.map((d) =>
    [
      d.current ? '*' : ' ',
      String(d.deviceId).padStart(3),
      (d.primary ? 'primary' : 'companion').padEnd(9),
      (d.name === '' ? '-' : terminalText(d.name)).padEnd(16),
      `linked ${when(d.linkedAt)}`,
      `last seen ${when(d.lastSeenAt)}`,
    ].join('  '),
  );
  return `${lines.join('\n')}\n`;
}

/** Runs `body` on an authenticated session; failures get the linking explanations. */
async function withSession<T>(
  options: CommonOptions,
  context: SessionContext,
  body: (session: AdminSession) => Promise<T>,
): Promise<T> {
  const session = await openAdminSession(options, context);
  try {
    return await body(session);
  } catch (error) {
    throw explainLinkingFailure(error);
  } finally {
    await session.close();
  }
}

/**
 * Local authentication: the PIN gate refuses (and counts) before anything is
 * signed. A companion is refused before it is asked for a PIN it does not have.
 */
async function authorize(session: AdminSession, pinOption: string | undefined): Promise<void> {
  if (!isPrimaryAccount(session.account)) {
    throw new LinkingError('not-primary', 'only the primary device can manage devices');
  }
  const pin = await obtainApprovalPin(pinOption);
  await pinGate(session.store.settings).authorize(pin);
}

/** Adds `devices` (with `list`, `approve`, `remove`) to the program. */
export function addDevicesCommand(program: Command): void {
  const devices = program
    .command('devices')
    .description("list this account's devices; approve or remove companions (primary only)");

  devices
    .command('list', { isDefault: true })
    .description("list this account's devices (the current one is marked *)")
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--json', 'print a JSON array')
    .action((options: CommonOptions & { json?: boolean }) =>
      runCommand({}, (context) =>
        withSession(options, context, async (session) => {
          if (isPrimaryAccount(session.account)) {
            // A companion that logged itself out is still in the last signed
            // list; re-sign without it so senders drop it too.
            if (await pruneOwnDeviceList(nodeContext, session.store, session.api)) {
              process.stderr.write('notice: published a new signed device list\n');
            }
          }
          const list = await listOwnDevices(session.store, session.api);
          process.stdout.write(
            options.json === true ? `${JSON.stringify(list)}\n` : formatDevices(list),
          );
        }),
      ),
    );

  devices
    .command('approve')
    .description('link the companion showing <link-code> (primary only; asks for the PIN)')
    .argument('<link-code>', 'the "quintet://link#…" text the new device shows')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--pin <pin>', 'the local PIN (or QUINTET_PIN, or asked on a terminal)')
    .option(
      '--history <reach>',
      'history to send the new device: 90d (default), <N>d, all, or none',
      historyOption,
      DEFAULT_HISTORY,
    )
    .action((text: string, options: PinOptions & { history: HistoryChoice }) =>
      runCommand({}, async (context) => {
        const approved = await withSession(options, context, async (session) => {
          // PIN first: a wrong PIN must link nothing, whatever the code says.
          await authorize(session, options.pin);
          const code = decodeLinkCode(text.trim());
          const done = await approveCompanion(nodeContext, session.store, session.api, code);
          process.stdout.write(`approved: device ${done.deviceId} (key index ${done.keyIndex})\n`);
          return done;
        });
        // Bootstrap state always; the archive unless declined.
        await sendCompanionHistory(options, context, approved.deviceId, options.history);
      }),
    );

  devices
    .command('remove')
    .description('log a companion device out remotely (primary only; asks for the PIN)')
    .argument('<id>', 'the device id (see "quintet devices")', deviceIdArgument)
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--pin <pin>', 'the local PIN (or QUINTET_PIN, or asked on a terminal)')
    .action((deviceId: number, options: PinOptions) =>
      runCommand({}, (context) =>
        withSession(options, context, async (session) => {
          await authorize(session, options.pin);
          await removeCompanion(nodeContext, session.store, session.api, deviceId);
          process.stdout.write(`removed: device ${deviceId} was logged out\n`);
        }),
      ),
    );
}
