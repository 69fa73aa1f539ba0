/** Shown in every tab but the one holding the device lock. */
import { h } from '../dom.js';
import { card } from './common.js';

/** The "open in another tab" screen. */
export function otherTabScreen(): HTMLElement {
  return card(
    'Quintet is open in another tab',
    h(
      'p',
      { testid: 'other-tab' },
      'Quintet is open in another tab. Only one tab can use this device at a time; ' +
        'this tab takes over when the other one is closed.',
    ),
  );
}
