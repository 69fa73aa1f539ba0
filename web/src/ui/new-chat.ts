/** Starting a chat with an account by name. */
import { ACCOUNT_NAME_INPUT_PATTERN } from './common.js';
import { fieldValue, h } from '../dom.js';

/** What the new-chat form reports. */
export interface NewChatHandlers {
  /** Checks the account exists and opens the chat; rejects to keep the form. */
  readonly start: (account: string) => Promise<void>;
  readonly cancel: () => void;
}

/** The new-chat pane. */
export function newChatPane(handlers: NewChatHandlers): HTMLElement {
  const input = h('input', {
    type: 'text',
    placeholder: 'Account name',
    autocomplete: 'off',
    required: true,
    maxLength: 32,
    ariaLabel: 'Account name',
  });
  input.name = 'account';
  input.pattern = ACCOUNT_NAME_INPUT_PATTERN;
  input.dataset['testid'] = 'new-chat-name';
  const button = h(
    'button',
    { type: 'submit', class: 'primary', testid: 'new-chat-start' },
    'Start chat',
  );
  const form = h(
    'form',
    {
      class: 'stack narrow',
      onsubmit: (event) => {
        event.preventDefault();
        button.disabled = true;
        // Fire and forget from a DOM handler: `start` reports its own
        // failures as notices and never rejects.
        void handlers.start(fieldValue(form, 'account').trim()).finally(() => {
          button.disabled = false;
        });
      },
    },
    h('h2', {}, 'New chat'),
    h('label', {}, 'Who do you want to write to?', input),
    h(
      'div',
      { class: 'row' },
      button,
      h('button', { type: 'button', class: 'secondary', onclick: handlers.cancel }, 'Cancel'),
    ),
  );
  setTimeout(() => input.focus(), 0);
  return h('section', { class: 'pane-body' }, form);
}
