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
  /**
   * Accepts the contact's new account key (after the user compared the
   * safety number); `verified` when the old key had been verified.
   */
  readonly acceptNewKey: (verified: boolean) => Promise<void>;
}

/** A changed account key of this chat's contact that the user has not accepted. */
export interface KeyWarning {
  /** The old key had been verified: the new one is accepted as verified. */
  readonly verified: boolean;
}

/** The view of one chat. */
export class ConversationView {
  readonly element: HTMLElement;
  readonly #list: HTMLElement;
  readonly #warning: HTMLElement;
  readonly #handlers: ConversationHandlers;
  #warningShown: KeyWarning | undefined;

  constructor(
    readonly chat: string,
    handlers: ConversationHandlers,
  ) {
    this.#handlers = handlers;
    this.#warning = h('div', { class: 'key-warning-slot' });
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
      this.#warning,
      this.#list,
      form,
    );
  }

  /**
   * Shows (or, with undefined, removes) the warning that the contact's
   * account key changed, with the button that accepts the new key. Nothing
   * is sent to the contact until it is pressed.
   */
  setKeyWarning(warning: KeyWarning | undefined): void {
    if (warning?.verified === this.#warningShown?.verified) return;
    this.#warningShown = warning;
    if (warning === undefined) {
      replaceChildren(this.#warning);
      return;
    }
    const chat = this.chat;
    const accept = h(
      'button',
      { type: 'button', class: 'primary small', testid: 'accept-key' },
      warning.verified ? 'Verified — accept new key' : 'Accept new key',
    );
    accept.onclick = () => {
      accept.disabled = true;
      // The app shows a failure; the warning stays to try again.
      this.#handlers.acceptNewKey(warning.verified).then(
        () => this.setKeyWarning(undefined),
        () => {
          accept.disabled = false;
        },
      );
    };
    replaceChildren(
      this.#warning,
      h(
        'div',
        { class: 'key-warning', testid: 'key-warning', role: 'alert' },
        h(
          'p',
          {},
          `${chat}'s account key changed — ${chat} may have reinstalled Quintet, or someone is ` +
            `intercepting. Nothing is sent to ${chat} until you accept the new key. ` +
            (warning.verified
              ? `You had verified ${chat}: compare the new safety number before accepting.`
              : 'Compare the safety number first.'),
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            onclick: this.#handlers.showSafetyNumber,
          },
          'Safety number',
        ),
        accept,
      ),
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
