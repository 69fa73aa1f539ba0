/**
 * The typing-indicator setting of this device, shown in the devices pane
 * (where this device's own settings live). It is a device setting, kept in
 * the sealed store and never sent: off, this device neither sends "typing…"
 * nor shows anyone else's.
 */
import { settingToggle } from './setting-toggle.js';

/** Reading and changing the setting; each rejects with the failure (the app shows it). */
export interface TypingSettingHandlers {
  readonly typingEnabled: () => Promise<boolean>;
  readonly setTypingEnabled: (on: boolean) => Promise<void>;
}

/** The "Typing indicators" checkbox, disabled until the current value is read. */
export function typingSetting(handlers: TypingSettingHandlers): HTMLElement {
  return settingToggle({
    heading: 'Privacy',
    label: 'Typing indicators',
    hint: 'Off: this device neither tells contacts you are typing nor shows when they are.',
    testid: 'typing-toggle',
    read: () => handlers.typingEnabled(),
    write: (on) => handlers.setTypingEnabled(on),
  });
}
