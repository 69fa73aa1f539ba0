/**
 * The typing-indicator setting of this device, shown in the devices pane
 * (where this device's own settings live). It is a device setting, kept in
 * the sealed store and never sent: off, this device neither sends "typing…"
 * nor shows anyone else's.
 */
import { h } from '../dom.js';

/** Reading and changing the setting; each rejects with the failure (the app shows it). */
export interface TypingSettingHandlers {
  readonly typingEnabled: () => Promise<boolean>;
  readonly setTypingEnabled: (on: boolean) => Promise<void>;
}

/** The "Typing indicators" checkbox, disabled until the current value is read. */
export function typingSetting(handlers: TypingSettingHandlers): HTMLElement {
  const box = h('input', { type: 'checkbox', testid: 'typing-toggle', disabled: true });
  handlers.typingEnabled().then(
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
    handlers.setTypingEnabled(on).then(
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
    h('h3', {}, 'Privacy'),
    h('label', { class: 'toggle' }, box, 'Typing indicators'),
    h(
      'p',
      { class: 'hint' },
      'Off: this device neither tells contacts you are typing nor shows when they are.',
    ),
  );
}
