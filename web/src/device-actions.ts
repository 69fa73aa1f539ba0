/**
 * The device-management steps the devices pane triggers, on the running
 * device (src/sdk): listing, approving a companion and logging one out
 * (primary only, PIN first), and a companion logging itself out. The PIN
 * gate comes before anything is decoded or signed, so a wrong PIN links
 * nothing and every wrong guess counts towards the lockout.
 */
import {
  ClientError,
  parseDeviceId,
  type ApprovedCompanion,
  type ApproveResult,
  type DeviceSummary,
  type HistoryChoice,
  type QuintetDevice,
} from '../../src/sdk/browser.js';
import { pinGate } from './pin.js';

/** An approval: the companion as soon as the server accepted it, and the history send after. */
export interface Approval {
  readonly approved: ApprovedCompanion;
  /** Resolves once account state and history were sent (or failed: see the result). */
  readonly done: Promise<ApproveResult>;
}

/** Device management for one profile, on the running device when online. */
export class DeviceActions {
  constructor(private readonly device: () => QuintetDevice | undefined) {}

  /** The online device; offline, a clear error at once instead of waiting. */
  #online(): QuintetDevice {
    const device = this.device();
    if (device?.api === undefined) throw new ClientError('transport-closed', 'not connected');
    return device;
  }

  /** The account's devices, as the server lists them. */
  async list(): Promise<DeviceSummary[]> {
    // Not pruned on a plain listing: see `pruneRemoved`.
    return this.#online().listDevices({ prune: false });
  }

  /**
   * Primary only, after the server reported own devices gone (a companion
   * that logged itself out): re-signs the device list without them, so
   * senders drop them too. Not run on a plain listing: a companion approved
   * a moment ago is not served until it completed its link, and pruning
   * then would drop it from the list it was just added to.
   */
  async pruneRemoved(): Promise<boolean> {
    const device = this.#online();
    if (!device.isPrimary) return false;
    return device.pruneDeviceList();
  }

  /**
   * PIN, then the link code, then the approval; account state and history
   * follow in the background (`done`).
   */
  async approve(codeText: string, pin: string, history: HistoryChoice): Promise<Approval> {
    const device = this.#online();
    return new Promise<Approval>((resolve, reject) => {
      let approved = false;
      const done = device.approve(codeText, {
        authorize: () => pinGate(device.store.settings).authorize(pin),
        history,
        onApproved: (companion) => {
          approved = true;
          resolve({ approved: companion, done });
        },
      });
      void done.catch((error: unknown) => {
        // Before the approval this is the approval's failure; after it,
        // `done`'s own consumer reports it.
        if (!approved) reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  /** PIN, then the remote logout of companion `deviceId`. */
  async remove(deviceId: number, pin: string): Promise<void> {
    const device = this.#online();
    await device.removeDevice(parseDeviceId(deviceId), () =>
      pinGate(device.store.settings).authorize(pin),
    );
  }

  /** A companion removes itself from the account (the caller wipes it afterwards). */
  async logoutSelf(): Promise<void> {
    await this.#online().logout();
  }
}
