/**
 * "Link as a companion": the start of the multi-device linking flow, where
 * this browser becomes a companion of an account whose primary is elsewhere
 * (WhatsApp Web's QR screen). For now a placeholder showing the layout.
 *
 * LINKING STEP: render the QR code into the element with
 * `data-testid="qr-slot"` (it is sized for one; `qrcode` has a browser
 * build), replace the status line as the primary scans and approves, and
 * call `onLinked` once the companion's keys and account record are stored.
 */
import { h } from '../dom.js';
import { card } from './common.js';

/** What the linking screen needs from the app. */
export interface LinkCompanionOptions {
  readonly onBack: () => void;
}

/** The companion-linking screen (placeholder). */
export function linkCompanionScreen(options: LinkCompanionOptions): HTMLElement {
  return card(
    'Link as a companion',
    h(
      'ol',
      { class: 'steps' },
      h('li', {}, 'Open Quintet on your primary device.'),
      h('li', {}, 'Choose “Link a device” and enter your PIN.'),
      h('li', {}, 'Scan the code shown here.'),
    ),
    h(
      'div',
      { class: 'qr-slot', testid: 'qr-slot', ariaLabel: 'The linking code will appear here' },
      h('span', {}, 'The QR code will appear here'),
    ),
    h(
      'p',
      { class: 'hint', testid: 'link-status' },
      'Linking is not available yet in this version.',
    ),
    h('button', { type: 'button', class: 'secondary', onclick: options.onBack }, 'Back'),
  );
}
