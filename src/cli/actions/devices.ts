/** The bodies of `quintet devices …` (commands/devices.ts defines them). */
import {
  LinkingError,
  type DeviceId,
  type HistoryChoice,
  type QuintetDevice,
} from '../../sdk/index.js';
import { formatDevices, type CommonOptions, type PinOptions } from '../commands/devices.js';
import { HistoryProgressBar } from '../history-progress-bar.js';
import { openProfileDevice, type SessionContext } from '../session.js';
import { obtainApprovalPin, pinGate } from '../pin.js';
import { explainLinkingFailure } from '../commands/device-errors.js';

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
async function approveOn(
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

/** `devices list`. */
export function list(
  options: CommonOptions & { json?: boolean },
  context: SessionContext,
): Promise<void> {
  return withDevice(options, context, async (device) => {
    // A companion that logged itself out is still in the last signed
    // list; re-sign without it so senders drop it too.
    if (device.isPrimary && (await device.pruneDeviceList())) {
      process.stderr.write('notice: published a new signed device list\n');
    }
    const devices = await device.listDevices({ prune: false });
    process.stdout.write(
      options.json === true ? `${JSON.stringify(devices)}\n` : formatDevices(devices),
    );
  });
}

/** `devices approve`. */
export function approve(
  text: string,
  options: PinOptions & { history: HistoryChoice },
  context: SessionContext,
): Promise<void> {
  return withDevice(options, context, (device) => approveOn(device, text, options));
}

/** `devices remove`. */
export function remove(
  deviceId: DeviceId,
  options: PinOptions,
  context: SessionContext,
): Promise<void> {
  return withDevice(options, context, async (device) => {
    await device.removeDevice(deviceId, authorizer(device, options.pin));
    process.stdout.write(`removed: device ${deviceId} was logged out\n`);
  });
}
