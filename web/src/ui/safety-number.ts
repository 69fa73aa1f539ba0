/**
 * The safety number with a contact: 60 digits that are the same on both
 * sides only if neither party's identity key was substituted — comparing
 * them in person or on a call is how users detect a lying server.
 */
import { h } from '../dom.js';

/** Splits the 60 digits into 12 groups of 5, as Signal and WhatsApp show them. */
export function groupDigits(displayable: string): string[] {
  return displayable.match(/.{1,5}/g) ?? [];
}

/** The safety-number pane for `chat`. */
export function safetyNumberPane(
  chat: string,
  displayable: string,
  onBack: () => void,
): HTMLElement {
  return h(
    'section',
    { class: 'pane-body' },
    h(
      'div',
      { class: 'stack narrow' },
      h('h2', {}, `Safety number with ${chat}`),
      h(
        'div',
        { class: 'digits', testid: 'safety-number' },
        ...groupDigits(displayable).map((group) => h('span', {}, group)),
      ),
      h(
        'p',
        { class: 'hint' },
        `Compare these numbers with ${chat}, in person or on a call. If they match, ` +
          'nobody is intercepting your messages. If they differ, do not trust this chat.',
      ),
      h('button', { type: 'button', class: 'secondary', onclick: onBack }, 'Back to chat'),
    ),
  );
}
