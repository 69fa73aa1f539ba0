/**
 * The per-message menu: reply, react (a few emoji), edit and delete. It
 * opens from the small button a bubble shows on hover, or by a long press
 * on touch screens. Edit and delete for everyone are offered on the user's
 * own messages only — receivers refuse them from anyone else anyway
 * (docs/protocol.md, "Chat events"), so offering them would only fail.
 */
import type { StoredMessage } from '../../../src/sdk/browser.js';
import { h } from '../dom.js';

/** The few emoji offered for a quick reaction. */
export const QUICK_REACTIONS: readonly string[] = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

/** What the menu's items do. */
export interface MessageActions {
  readonly reply: (message: StoredMessage) => void;
  readonly react: (message: StoredMessage, emoji: string) => void;
  readonly edit: (message: StoredMessage) => void;
  readonly deleteForMe: (message: StoredMessage) => void;
  readonly deleteForEveryone: (message: StoredMessage) => void;
}

/** How long a press must last to open the menu on a touch screen, ms. */
const LONG_PRESS_MS = 500;

/** The small button that opens the menu of a message. */
export function menuButton(open: () => void): HTMLElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'msg-menu-button',
      testid: 'message-menu-button',
      title: 'Reply, react, edit or delete',
      ariaLabel: 'Message actions',
      onclick: (event) => {
        event.stopPropagation();
        open();
      },
    },
    '⋯',
  );
}

/** Opens the menu when `element` is pressed for LONG_PRESS_MS without moving away. */
export function onLongPress(element: HTMLElement, open: () => void): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cancel = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  element.addEventListener('pointerdown', (event) => {
    if (event.pointerType !== 'touch') return;
    cancel();
    timer = setTimeout(open, LONG_PRESS_MS);
  });
  element.addEventListener('pointerup', cancel);
  element.addEventListener('pointerleave', cancel);
  element.addEventListener('pointercancel', cancel);
}

/**
 * The open menu of `message`. `own`: the user wrote it (edit and delete for
 * everyone offered); a message already deleted for everyone offers only
 * delete for me. Every item closes the menu first.
 */
export function messageMenu(
  message: StoredMessage,
  own: boolean,
  actions: MessageActions,
  close: () => void,
): HTMLElement {
  const item = (label: string, testid: string, run: () => void): HTMLElement =>
    h(
      'button',
      {
        type: 'button',
        class: 'menu-item',
        testid,
        onclick: (event) => {
          event.stopPropagation();
          close();
          run();
        },
      },
      label,
    );
  const menu = h('div', { class: 'msg-menu', testid: 'message-menu', role: 'menu' });
  if (message.deleted !== undefined) {
    menu.append(item('Delete for me', 'menu-delete-me', () => actions.deleteForMe(message)));
    return menu;
  }
  const emoji = h('div', { class: 'menu-reactions' });
  for (const choice of QUICK_REACTIONS) {
    const button = item(choice, 'menu-react', () => actions.react(message, choice));
    button.dataset['emoji'] = choice;
    button.classList.add('menu-emoji');
    emoji.append(button);
  }
  menu.append(
    emoji,
    item('Reply', 'menu-reply', () => actions.reply(message)),
  );
  if (own) {
    menu.append(item('Edit', 'menu-edit', () => actions.edit(message)));
  }
  menu.append(item('Delete for me', 'menu-delete-me', () => actions.deleteForMe(message)));
  if (own) {
    menu.append(
      item('Delete for everyone', 'menu-delete-everyone', () => actions.deleteForEveryone(message)),
    );
  }
  menu.append(item('Close', 'menu-close', () => undefined));
  return menu;
}
