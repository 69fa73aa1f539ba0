/**
 * `quintet devices`: list this account's devices; on the primary, approve a
 * new companion (`approve <link-code>`) and log one out remotely
 * (`remove <id>`). Approving and removing first authenticate the user
 * locally with the PIN (persistent lockout after 5 wrong PINs), because
 * whoever holds the primary must not be able to link a device of their own.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  DEFAULT_HISTORY,
  LinkingError,
  parseDeviceId,
  parseHistoryChoice,
  type DeviceSummary,
  type HistoryChoice,
  type QuintetDevice,
} from '../../sdk/index.js';
import { HistoryProgressBar } from '../history-progress-bar.js';
import { runCommand } from '../run.js';
import { openProfileDevice, type SessionContext } from '../session.js';
import { obtainApprovalPin, pinGate } from '../pin.js';
import { explainLinkingFailure } from './device-errors.js';
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

/** Runs `body` on the profile's device; failures get the linking explanations. */
async function withDevice<T>(
  options: CommonOptions,
  context: SessionContext,
  body: (device: QuintetDevice) => Promise<T>,
): Promise<T> {
  // Not receiving: a one-shot command must leave queued envelopes for `receive`.
  const device = await openProfileDevice(options, context, false);
  try {
    return await body(device);
  } catch (error) {
    throw explainLinkingFailure(error);
  } finally {
    await device.close();
  }
}

/**
 * Local authentication: the PIN gate refuses (and counts) before anything is
 * signed. A companion is refused before it is asked for a PIN it does not have.
 */
function authorizer(device: QuintetDevice, pinOption: string | undefined): () => Promise<void> {
  return async () => {
    if (!device.isPrimary) {
      throw new LinkingError('not-primary', 'only the primary device can manage devices');
    }
    const pin = await obtainApprovalPin(pinOption);
    await pinGate(device.store.settings).authorize(pin);
  };
}

/** How long to wait for the companion to finish linking before giving up, ms. */
const COMPANION_WAIT_MS = 300_000;

/** Approves the companion showing `text`, then sends it account state and history. */
async function approve(
  device: QuintetDevice,
  text: string,
  options: PinOptions & { history: HistoryChoice },
): Promise<void> {
  const bar = new HistoryProgressBar('sending history');
  let deviceId = 0;
  const result = await device.approve(text, {
    // PIN first: a wrong PIN must link nothing, whatever the code says.
    authorize: authorizer(device, options.pin),
    history: options.history,
    timeoutMs: COMPANION_WAIT_MS,
    onApproved: (done) => {
      deviceId = done.deviceId;
      process.stdout.write(`approved: device ${done.deviceId} (key index ${done.keyIndex})\n`);
    },
    onProgress: (progress) => {
      if (progress.phase === 'waiting') {
        process.stderr.write(`waiting for device ${deviceId} to finish linking…\n`);
      } else if (progress.phase === 'uploading' && progress.totalBytes !== undefined) {
        bar.update(progress.bytes ?? 0, progress.totalBytes, 'bytes');
      }
    },
  });
  // The approval stands whatever happened to the history: the device works,
  // it only lacks account state until it is sent again.
  const history = result.history;
  if (history === undefined) {
    const error = result.historyError;
    bar.finish(
      `account state and history not sent: ${error instanceof Error ? error.message : 'failed'}`,
    );
  } else if (history.error !== undefined) {
    bar.finish(`history not sent (${history.error}); the device works without it`);
  } else if (history.messages === undefined) {
    bar.finish('sent account state; history declined');
  } else {
    bar.finish(`sent account state and ${history.messages} messages of history`);
  }
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
        withDevice(options, context, async (device) => {
          // A companion that logged itself out is still in the last signed
          // list; re-sign without it so senders drop it too.
          if (device.isPrimary && (await device.pruneDeviceList())) {
            process.stderr.write('notice: published a new signed device list\n');
          }
          const list = await device.listDevices({ prune: false });
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
      runCommand({}, (context) =>
        withDevice(options, context, (device) => approve(device, text, options)),
      ),
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
        withDevice(options, context, async (device) => {
          await device.removeDevice(parseDeviceId(deviceId), authorizer(device, options.pin));
          process.stdout.write(`removed: device ${deviceId} was logged out\n`);
        }),
      ),
    );
}
