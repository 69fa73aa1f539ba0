/**
 * First start in a browser without an account: create a new account with
 * this browser as its primary device, or go to the companion-linking screen.
 */
import {
  browserPlatform,
  registerDevice,
  validateAccountName,
  type DeviceStore,
} from '../../../src/sdk/browser.js';
import { fieldValue, h } from '../dom.js';
import { browserDeviceName } from '../link-flow.js';
import type { Notices } from '../notices.js';
import { hashPin, MIN_PIN_LENGTH, PIN_SETTING } from '../pin.js';
import { ACCOUNT_NAME_INPUT_PATTERN, card } from './common.js';

/** What the onboarding screen needs from the app. */
export interface OnboardingOptions {
  readonly store: DeviceStore;
  readonly serverUrl: string;
  readonly notices: Notices;
  readonly onRegistered: () => void;
  readonly onLinkCompanion: () => void;
}

/** Registers the account: PIN hash first (a bad PIN fails before any server call). */
async function register(options: OnboardingOptions, name: string, pin: string): Promise<void> {
  const account = validateAccountName(name);
  const pinHash = await hashPin(pin);
  await registerDevice({
    store: options.store,
    platform: browserPlatform,
    servers: options.serverUrl,
    account,
    deviceName: browserDeviceName(),
  });
  await options.store.settings.put(PIN_SETTING, new TextEncoder().encode(pinHash));
}

/** The welcome screen with the registration form. */
export function onboardingScreen(options: OnboardingOptions): HTMLElement {
  const button = h(
    'button',
    { type: 'submit', class: 'primary', testid: 'register' },
    'Create account',
  );
  const form = h(
    'form',
    {
      class: 'stack',
      onsubmit: (event) => {
        event.preventDefault();
        const name = fieldValue(form, 'account').trim();
        const pin = fieldValue(form, 'pin');
        if (pin !== fieldValue(form, 'pin2')) {
          options.notices.show('error', 'The two PINs do not match.');
          return;
        }
        button.disabled = true;
        button.textContent = 'Creating keys…';
        register(options, name, pin).then(options.onRegistered, (error: unknown) => {
          options.notices.error(error);
          button.disabled = false;
          button.textContent = 'Create account';
        });
      },
    },
    h('label', {}, 'Account name', accountInput()),
    h('label', {}, 'PIN', pinInput('pin', 'new-password')),
    h('label', {}, 'Repeat PIN', pinInput('pin2', 'new-password')),
    h(
      'p',
      { class: 'hint' },
      'Your keys are created and kept in this browser. The PIN stays here too; ' +
        'you will need it to approve linking other devices.',
    ),
    button,
  );
  return card(
    'Create your account',
    form,
    h('div', { class: 'divider' }, 'or'),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        testid: 'link-companion',
        onclick: options.onLinkCompanion,
      },
      'Link as a companion to an existing account',
    ),
  );
}

function accountInput(): HTMLInputElement {
  const input = h('input', {
    type: 'text',
    placeholder: 'e.g. alice',
    autocomplete: 'username',
    required: true,
    minLength: 3,
    maxLength: 32,
  });
  input.name = 'account';
  input.pattern = ACCOUNT_NAME_INPUT_PATTERN;
  input.title = 'A lower-case letter, then 2-31 of a-z, 0-9, "_", "." or "-"';
  return input;
}

function pinInput(name: string, autocomplete: string): HTMLInputElement {
  const input = h('input', {
    type: 'password',
    autocomplete,
    required: true,
    minLength: MIN_PIN_LENGTH,
    maxLength: 64,
  });
  input.name = name;
  input.inputMode = 'numeric';
  return input;
}
