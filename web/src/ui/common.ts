/** Small pieces shared by the screens: avatars, times, the centred card. */
import { h, type Child } from '../dom.js';

/** A round avatar with the account's first letter, its colour derived from the name. */
export function avatar(name: string): HTMLElement {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) % 360;
  const el = h('span', { class: 'avatar' }, name.slice(0, 1).toUpperCase());
  el.style.backgroundColor = `hsl(${hash} 45% 45%)`;
  return el;
}

/** "14:05" today, "3 Mar" otherwise. */
export function shortTime(ms: number): string {
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

/** The centred card used by the screens shown before there is an account. */
export function card(title: string, ...children: Child[]): HTMLElement {
  return h(
    'div',
    { class: 'center' },
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, 'Q'), 'Quintet'),
      h('h1', {}, title),
      ...children,
    ),
  );
}

/**
 * The account-name rule as an `<input pattern>`. Browsers compile the
 * attribute with the `v` flag, where a bare `-` in a class is an error, so
 * it is escaped here; it matches the same names as ACCOUNT_NAME_PATTERN.
 */
export const ACCOUNT_NAME_INPUT_PATTERN = '[a-z][a-z0-9_.\\-]{2,31}';
