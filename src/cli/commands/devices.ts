/**
 * `quintet devices`: list this account's devices; on the primary, approve a
 * new companion (`approve <link-code>`) and log one out remotely
 * (`remove <id>`). Approving and removing first authenticate the user
 * locally with the PIN (persistent lockout after 5 wrong PINs), because
 * whoever holds the primary must not be able to link a device of their own.
 * The bodies are in actions/devices.ts, loaded only when a command runs.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  DEFAULT_HISTORY,
  parseDeviceId,
  parseHistoryChoice,
  type DeviceId,
  type HistoryChoice,
} from '../../sdk/values.js';
import type { DeviceSummary } from '../../sdk/index.js';
import { runCommand } from '../run.js';
import { terminalText } from '../terminal-text.js';
import { serverHelp, serverOption } from '../server-option.js';

export interface CommonOptions {
  readonly profile?: string;
  readonly server?: string;
}

export interface PinOptions extends CommonOptions {
  readonly pin?: string;
}

function deviceIdArgument(value: string): DeviceId {
  try {
    return parseDeviceId(value.trim());
  } catch {
    throw new InvalidArgumentError('must be a device id (a positive integer)');
  }
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
      runCommand({}, async (context) =>
        (await import('../actions/devices.js')).list(options, context),
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
      runCommand({}, async (context) =>
        (await import('../actions/devices.js')).approve(text, options, context),
      ),
    );

  devices
    .command('remove')
    .description('log a companion device out remotely (primary only; asks for the PIN)')
    .argument('<id>', 'the device id (see "quintet devices")', deviceIdArgument)
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option('--pin <pin>', 'the local PIN (or QUINTET_PIN, or asked on a terminal)')
    .action((deviceId: DeviceId, options: PinOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/devices.js')).remove(deviceId, options, context),
      ),
    );
}
