/**
 * A device setting as a checkbox in the devices pane: disabled until the
 * current value is read, disabled again while a change is saved, and put
 * back if saving fails. Each handler rejects with its failure, which the
 * app shows; the box never guesses a value it could not read.
 */
import { h } from '../dom.js';

/** What one setting shows and how it is read and written. */
export interface SettingToggle {
  readonly heading: string;
  readonly label: string;
  readonly hint: string;
  readonly testid: string;
  readonly read: () => Promise<boolean>;
  readonly write: (on: boolean) => Promise<void>;
}

/** The setting's heading, checkbox and hint. */
export function settingToggle(setting: SettingToggle): HTMLElement {
  const box = h('input', { type: 'checkbox', testid: setting.testid, disabled: true });
  setting.read().then(
    (on) => {
      box.checked = on;
      box.disabled = false;
    },
    // The app showed the error; the box stays disabled rather than guess.
    () => undefined,
  );
  box.addEventListener('change', () => {
    const on = box.checked;
    box.disabled = true;
    setting.write(on).then(
      () => {
        box.disabled = false;
      },
      () => {
        box.checked = !on;
        box.disabled = false;
      },
    );
  });
  return h(
    'div',
    { class: 'stack' },
    h('h3', {}, setting.heading),
    h('label', { class: 'toggle' }, box, setting.label),
    h('p', { class: 'hint' }, setting.hint),
  );
}
