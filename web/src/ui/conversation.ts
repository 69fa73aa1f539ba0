/**
 * One conversation: header, messages with their ticks, and the compose bar.
 * The compose bar is built once and kept, so re-rendering the messages on
 * every event never loses what the user is typing.
 */
import type { StoredMessage } from '../../../src/client/core/store/records.js';
import { fieldValue, h, replaceChildren } from '../dom.js';
import { tickGlyph, tickState } from '../ticks.js';
import { avatar, shortTime } from './common.js';

/** What the conversation reports to the app. */
export interface ConversationHandlers {
  /** Sends `text`; resolves once stored and sent, rejects with the failure. */
  readonly send: (text: string) => Promise<void>;
  readonly showSafetyNumber: () => void;
}

/** The view of one chat. */
export class ConversationView {
  readonly element: HTMLElement;
  readonly #list: HTMLElement;

  constructor(
    readonly chat: string,
    handlers: ConversationHandlers,
  ) {
    this.#list = h('div', {
      class: 'messages',
      testid: 'messages',
      role: 'log',
      ariaLive: 'polite',
    });
    const input = h('input', {
      type: 'text',
      placeholder: 'Type a message',
      autocomplete: 'off',
      maxLength: 4096,
      ariaLabel: 'Message',
    });
    input.name = 'text';
    input.dataset['testid'] = 'compose';
    const button = h('button', { type: 'submit', class: 'primary', testid: 'send' }, 'Send');
    const form = h(
      'form',
      {
        class: 'compose',
        onsubmit: (event) => {
          event.preventDefault();
          const text = fieldValue(form, 'text').trim();
          if (text === '') return;
          button.disabled = true;
          handlers.send(text).then(
            () => {
              input.value = '';
              button.disabled = false;
              input.focus();
            },
            // The app shows the error; the text stays in the box to try again.
            () => {
              button.disabled = false;
            },
          );
        },
      },
      input,
      button,
    );
    this.element = h(
      'section',
      { class: 'conversation', testid: 'conversation' },
      h(
        'header',
        { class: 'pane-header' },
        avatar(chat),
        h('strong', { class: 'grow', testid: 'conversation-title' }, chat),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            testid: 'safety',
            onclick: handlers.showSafetyNumber,
          },
          'Safety number',
        ),
      ),
      this.#list,
      form,
    );
  }

  /** Shows `messages` (oldest first), keeping the scroll at the bottom if it was there. */
  update(messages: readonly StoredMessage[]): void {
    const list = this.#list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    replaceChildren(
      list,
      messages.length === 0 && h('p', { class: 'empty' }, 'No messages yet. Say hello.'),
      ...messages.map(bubble),
    );
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}

function bubble(message: StoredMessage): HTMLElement {
  const meta = h('span', { class: 'meta' }, shortTime(message.sentAt));
  if (message.outgoing) {
    const state = tickState(message);
    const glyph = tickGlyph(state);
    const ticks = h(
      'span',
      { class: `ticks ticks-${state}`, title: glyph.label, testid: 'ticks' },
      glyph.text,
    );
    ticks.dataset['state'] = state;
    meta.append(' ', ticks);
  }
  return h(
    'div',
    { class: message.outgoing ? 'bubble out' : 'bubble in', testid: 'message' },
    h('span', { class: 'text' }, message.text),
    meta,
  );
}
