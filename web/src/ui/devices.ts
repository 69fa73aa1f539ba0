/**
 * The devices pane: the account's devices as the server lists them, and on
 * the primary the two approvals that need the PIN first — linking a new
 * companion from its link code, and logging a companion out. A companion
 * can log itself out here. This device's typing-indicator and post-quantum
 * settings are here too.
 *
 * The form fields are built once and kept, so a device-list refresh while
 * the user types a link code or PIN loses nothing.
 */
import type { DeviceSummary } from '../../../src/sdk/browser.js';
import { h, replaceChildren } from '../dom.js';
import { MIN_PIN_LENGTH } from '../pin.js';
import { shortTime } from './common.js';
import { scanButton } from './scan.js';
import { postQuantumSetting, type PostQuantumSettingHandlers } from './post-quantum-setting.js';
import { typingSetting, type TypingSettingHandlers } from './typing-setting.js';

/** What the devices pane asks the app to do; each rejects with the failure (the app shows it). */
export interface DevicesHandlers extends TypingSettingHandlers, PostQuantumSettingHandlers {
  /** Checks the PIN, then approves the companion showing `code`. */
  readonly approve: (code: string, pin: string, history: string) => Promise<void>;
  /** Checks the PIN, then logs the companion `deviceId` out. */
  readonly remove: (deviceId: number, pin: string) => Promise<void>;
  /** Logs this companion out and wipes it. */
  readonly logoutSelf: () => Promise<void>;
  /** The camera could not be used for scanning. */
  readonly scanFailed: (error: unknown) => void;
}

/** The devices pane of one device. */
export class DevicesView {
  readonly element: HTMLElement;
  readonly #list = h('ul', { class: 'devices', testid: 'devices' });
  readonly #removePin = pinField('remove-pin');
  #removing: number | undefined;
  #devices: readonly DeviceSummary[] | undefined;

  constructor(
    readonly isPrimary: boolean,
    private readonly handlers: DevicesHandlers,
  ) {
    replaceChildren(this.#list, h('li', { class: 'hint' }, 'Loading the device list…'));
    this.element = h(
      'section',
      { class: 'pane-body scroll', testid: 'devices-pane' },
      h(
        'div',
        { class: 'stack narrow' },
        h('h2', {}, 'Devices'),
        h(
          'p',
          { class: 'hint' },
          'Every device has its own keys. Companions are vouched for by the primary, ' +
            'so your contacts’ apps accept only devices the primary signed.',
        ),
        this.#list,
        isPrimary ? this.#approveForm() : this.#logoutSelf(),
        typingSetting(handlers),
        postQuantumSetting(handlers),
      ),
    );
  }

  /** Shows `devices` (primary first). */
  update(devices: readonly DeviceSummary[]): void {
    this.#devices = devices;
    if (this.#removing !== undefined && !devices.some((d) => d.deviceId === this.#removing)) {
      this.#removing = undefined;
    }
    replaceChildren(this.#list, ...devices.map((device) => this.#row(device)));
  }

  #rerender(): void {
    if (this.#devices !== undefined) this.update(this.#devices);
  }

  #row(device: DeviceSummary): HTMLElement {
    const kind = device.primary ? 'primary' : 'companion';
    const seen = device.lastSeenAt > 0 ? `last seen ${shortTime(device.lastSeenAt)}` : 'never seen';
    const item = h(
      'li',
      { class: 'device', testid: 'device' },
      h(
        'div',
        { class: 'device-text' },
        h(
          'strong',
          {},
          device.name === '' ? `Device ${device.deviceId}` : device.name,
          device.current && h('span', { class: 'tag' }, 'this browser'),
        ),
        h(
          'span',
          { class: 'hint' },
          `${kind} · device ${device.deviceId} · linked ${shortTime(device.linkedAt)} · ${seen}`,
        ),
      ),
    );
    item.dataset['deviceId'] = String(device.deviceId);
    if (this.isPrimary && !device.primary && !device.current) {
      item.append(
        this.#removing === device.deviceId
          ? this.#removeForm(device.deviceId)
          : h(
              'button',
              {
                type: 'button',
                class: 'secondary small',
                testid: 'device-logout',
                onclick: () => {
                  this.#removing = device.deviceId;
                  this.#removePin.value = '';
                  this.#rerender();
                  this.#removePin.focus();
                },
              },
              'Log out',
            ),
      );
    }
    return item;
  }

  #removeForm(deviceId: number): HTMLElement {
    const confirm = h('button', { type: 'submit', class: 'danger small' }, 'Log out');
    const form = h(
      'form',
      {
        class: 'row',
        onsubmit: (event) => {
          event.preventDefault();
          confirm.disabled = true;
          this.handlers.remove(deviceId, this.#removePin.value).then(
            () => {
              this.#removing = undefined;
              this.#removePin.value = '';
              this.#rerender();
            },
            () => {
              confirm.disabled = false;
              this.#removePin.select();
            },
          );
        },
      },
      this.#removePin,
      confirm,
      h(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          onclick: () => {
            this.#removing = undefined;
            this.#rerender();
          },
        },
        'Cancel',
      ),
    );
    return form;
  }

  #approveForm(): HTMLElement {
    const code = h('input', {
      type: 'text',
      placeholder: 'quintet://link#…',
      autocomplete: 'off',
      required: true,
      ariaLabel: 'Link code',
      testid: 'approve-code',
    });
    const pin = pinField('approve-pin');
    // What history the new device gets (docs/history.md); account state is always sent.
    const history = h(
      'select',
      { ariaLabel: 'History to send', testid: 'approve-history' },
      h('option', { value: '90d' }, 'Last 90 days'),
      h('option', { value: 'all' }, 'All history'),
      h('option', { value: 'none' }, 'No history'),
    );
    const button = h('button', { type: 'submit', class: 'primary', testid: 'approve' }, 'Link');
    const form = h(
      'form',
      {
        class: 'stack',
        onsubmit: (event) => {
          event.preventDefault();
          button.disabled = true;
          this.handlers.approve(code.value.trim(), pin.value, history.value).then(
            () => {
              code.value = '';
              pin.value = '';
              button.disabled = false;
            },
            () => {
              button.disabled = false;
            },
          );
        },
      },
      h('h3', {}, 'Link a device'),
      h(
        'p',
        { class: 'hint' },
        'On the new device choose “Link as a companion”, then scan or paste its code here. ' +
          'Your PIN is asked first: only you may add a device to your account.',
      ),
      h('label', {}, 'Link code', code),
      h('label', {}, 'History', history),
      scanButton(
        (text) => {
          code.value = text;
          pin.focus();
        },
        (error) => this.handlers.scanFailed(error),
      ),
      h('label', {}, 'PIN', pin),
      button,
    );
    return form;
  }

  #logoutSelf(): HTMLElement {
    let armed = false;
    const button = h(
      'button',
      { type: 'button', class: 'danger', testid: 'logout-self' },
      'Log out this browser',
    );
    button.addEventListener('click', () => {
      // Two clicks instead of confirm(): a modal dialog would block the page's event loop.
      if (!armed) {
        armed = true;
        button.textContent = 'Click again to log out and delete this browser’s keys';
        return;
      }
      button.disabled = true;
      this.handlers.logoutSelf().catch(() => {
        button.disabled = false;
        armed = false;
        button.textContent = 'Log out this browser';
      });
    });
    return h(
      'div',
      { class: 'stack' },
      h('h3', {}, 'This browser'),
      h(
        'p',
        { class: 'hint' },
        'Logging out removes this browser from the account and deletes its keys and messages here.',
      ),
      button,
    );
  }
}

function pinField(testid: string): HTMLInputElement {
  const input = h('input', {
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    minLength: MIN_PIN_LENGTH,
    maxLength: 64,
    placeholder: 'PIN',
    ariaLabel: 'PIN',
    testid,
  });
  input.inputMode = 'numeric';
  return input;
}
