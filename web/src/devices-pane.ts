/**
 * The devices pane's controller: lists this account's devices in the open
 * view (reloading until a just-approved companion appears), approves a
 * companion and reports its history send, removes one, and logs this
 * device out. Every failure is shown as a notice; the view's own state
 * (buttons, PIN fields) is restored by the rethrown error.
 */
import { DEFAULT_HISTORY, parseHistoryChoice, type ApproveResult } from '../../src/sdk/browser.js';
import type { DeviceActions } from './device-actions.js';
import type { Notices } from './notices.js';
import type { PostQuantumSettingHandlers } from './ui/post-quantum-setting.js';
import type { TypingSettingHandlers } from './ui/typing-setting.js';
import { DevicesView } from './ui/devices.js';

/** What the pane needs from the app. */
export interface DevicesPaneDeps {
  readonly isPrimary: boolean;
  readonly devices: DeviceActions;
  readonly notices: Notices;
  /** Whether the device is connected (the list comes from the server). */
  readonly online: () => boolean;
  /** The typing toggle shown in the pane. */
  readonly typing: TypingSettingHandlers;
  /** The post-quantum toggle shown in the pane. */
  readonly postQuantum: PostQuantumSettingHandlers;
  /** This device logged itself out. */
  readonly loggedOut: () => void;
}

/** One open devices pane. */
export class DevicesPane {
  readonly view: DevicesView;
  #closed = false;

  constructor(private readonly deps: DevicesPaneDeps) {
    this.view = new DevicesView(deps.isPrimary, {
      approve: (code, pin, history) => this.#approve(code, pin, history),
      remove: (deviceId, pin) => this.#remove(deviceId, pin),
      logoutSelf: () => this.#logoutSelf(),
      scanFailed: (error) => deps.notices.error(error),
      ...deps.typing,
      ...deps.postQuantum,
    });
  }

  /** The pane was replaced: late answers no longer touch it. */
  close(): void {
    this.#closed = true;
  }

  /**
   * (Re)loads the device list. With `until`, keeps reloading every second
   * (for up to a minute) until that device is listed: an approved companion
   * appears only once it completed its side of the link.
   */
  load(until?: number, deadline = Date.now() + 60_000): void {
    if (this.#closed || !this.deps.online()) return;
    this.deps.devices.list().then(
      (devices) => {
        if (this.#closed) return;
        this.view.update(devices);
        const missing = until !== undefined && !devices.some((d) => d.deviceId === until);
        if (missing && Date.now() < deadline) {
          setTimeout(() => this.load(until, deadline), 1_000);
        }
      },
      (error: unknown) => this.deps.notices.error(error),
    );
  }

  async #approve(code: string, pin: string, history: string): Promise<void> {
    const notices = this.deps.notices;
    try {
      const choice = parseHistoryChoice(history) ?? DEFAULT_HISTORY;
      const { approved, done } = await this.deps.devices.approve(code, pin, choice);
      notices.show('info', `Approved. Device ${approved.deviceId} is finishing its link…`);
      this.load(approved.deviceId);
      this.#reportHistory(approved.deviceId, done);
    } catch (error) {
      notices.error(error);
      throw error;
    }
  }

  /** Bootstrap state, then (unless declined) history, to the approved device; in the background. */
  #reportHistory(deviceId: number, done: Promise<ApproveResult>): void {
    const notices = this.deps.notices;
    done.then(
      ({ history, historyError }) => {
        if (history === undefined) {
          notices.error(historyError);
          return;
        }
        notices.show(
          history.error === undefined ? 'info' : 'error',
          history.error !== undefined
            ? `History could not be sent (${history.error}); the device works without it.`
            : history.messages === undefined
              ? `Device ${deviceId} received your account state (no history).`
              : `Device ${deviceId} received ${history.messages} messages of history.`,
        );
      },
      (error: unknown) => notices.error(error),
    );
  }

  async #remove(deviceId: number, pin: string): Promise<void> {
    try {
      await this.deps.devices.remove(deviceId, pin);
      this.deps.notices.show('info', `Device ${deviceId} was logged out.`);
    } catch (error) {
      this.deps.notices.error(error);
      throw error;
    }
    this.load();
  }

  async #logoutSelf(): Promise<void> {
    try {
      await this.deps.devices.logoutSelf();
    } catch (error) {
      this.deps.notices.error(error);
      throw error;
    }
    this.deps.loggedOut();
  }
}
