/**
 * "Link as a companion": this browser becomes a companion device of an
 * account whose primary is elsewhere (WhatsApp Web's QR screen). It shows
 * the link code as a QR code and as text to copy, replaces both whenever
 * the server's reference expires, and hands over to the app once the
 * primary approved and the new device is stored.
 *
 * The code carries the linking secret, which is what keeps the server from
 * forging the link: it is shown here, copied only on request, never logged.
 */
import type { DeviceStore } from '../../../src/sdk/browser.js';
import { h, replaceChildren } from '../dom.js';
import { startCompanionLink, type CompanionLink, type LinkCodeOffer } from '../link-flow.js';
import type { Notices } from '../notices.js';
import { drawQrCode } from '../qr.js';
import { card } from './common.js';

/** What the linking screen needs from the app. */
export interface LinkCompanionOptions {
  readonly store: DeviceStore;
  readonly serverUrl: string;
  readonly notices: Notices;
  /** The device is linked and stored: start the app. */
  readonly onLinked: () => void;
  readonly onBack: () => void;
}

/** QR code edge, CSS pixels. */
const QR_SIZE = 212;

/** The companion-linking screen; starts a linking attempt at once. */
export function linkCompanionScreen(options: LinkCompanionOptions): HTMLElement {
  const canvas = h('canvas', { testid: 'qr', ariaLabel: 'Link code as a QR code' });
  const slot = h(
    'div',
    { class: 'qr-slot', testid: 'qr-slot' },
    h('span', {}, 'Preparing a link code…'),
  );
  const codeField = h('input', {
    type: 'text',
    class: 'link-code',
    autocomplete: 'off',
    ariaLabel: 'Link code',
    testid: 'link-code',
  });
  codeField.readOnly = true;
  codeField.addEventListener('focus', () => codeField.select());
  const copy = h('button', { type: 'button', class: 'secondary small', disabled: true }, 'Copy');
  const status = h('p', { class: 'hint', testid: 'link-status', ariaLive: 'polite' }, '');
  const retry = h('button', { type: 'button', class: 'primary' }, 'Show a new code');
  retry.hidden = true;

  let link: CompanionLink | undefined;
  let expiresAt = 0;
  const countdown = (): void => {
    if (expiresAt === 0) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    status.textContent = `Waiting for your primary device… this code is replaced in ${left} s.`;
  };
  const ticker = setInterval(countdown, 1_000);

  const show = (offer: LinkCodeOffer): void => {
    codeField.value = offer.text;
    copy.disabled = false;
    expiresAt = offer.expiresAt;
    countdown();
    drawQrCode(canvas, offer.text, QR_SIZE).then(
      () => {
        slot.classList.add('qr-ready');
        replaceChildren(slot, canvas);
      },
      (error: unknown) => options.notices.error(error),
    );
  };

  const start = (): void => {
    retry.hidden = true;
    status.textContent = 'Connecting to the server…';
    const attempt = startCompanionLink(options.store, options.serverUrl, show);
    link = attempt;
    attempt.done.then(
      (outcome) => {
        if (outcome !== 'linked') return;
        clearInterval(ticker);
        status.textContent = 'Linked. Loading your chats…';
        options.onLinked();
      },
      (error: unknown) => {
        if (link !== attempt) return;
        expiresAt = 0;
        codeField.value = '';
        copy.disabled = true;
        slot.classList.remove('qr-ready');
        replaceChildren(slot, h('span', {}, 'No code is shown.'));
        status.textContent = 'Linking stopped.';
        retry.hidden = false;
        options.notices.error(error);
      },
    );
  };

  copy.addEventListener('click', () => {
    navigator.clipboard.writeText(codeField.value).then(
      () => options.notices.show('info', 'Link code copied. It works for one minute.'),
      () => {
        // No clipboard permission (e.g. an insecure context): let the user copy by hand.
        codeField.focus();
        options.notices.show('info', 'Copying is not allowed here; the code is selected instead.');
      },
    );
  });
  retry.addEventListener('click', start);
  const back = h('button', { type: 'button', class: 'secondary' }, 'Back');
  back.addEventListener('click', () => {
    clearInterval(ticker);
    const attempt = link;
    link = undefined;
    attempt?.cancel().catch((error: unknown) => options.notices.error(error));
    options.onBack();
  });

  start();
  return card(
    'Link as a companion',
    h(
      'ol',
      { class: 'steps' },
      h('li', {}, 'Open Quintet on your primary device.'),
      h(
        'li',
        {},
        'Open Devices → “Link a device”, or run ',
        h('code', {}, "quintet devices approve '<link code>'"),
        '.',
      ),
      h('li', {}, 'Scan this QR code, or paste the link code below, and enter your PIN.'),
    ),
    slot,
    h('div', { class: 'row' }, codeField, copy),
    status,
    retry,
    h(
      'p',
      { class: 'hint' },
      'The code lets one device link to your account for a minute; share it with nobody else. ' +
        'This browser makes its own keys and keeps them here.',
    ),
    back,
  );
}
