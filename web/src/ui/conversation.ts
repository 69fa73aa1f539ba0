/**
 * One conversation, 1:1 or group: header (with who is typing and the
 * disappearing-timer setting, which in a group only admins may change),
 * messages with their ticks and chat state (in a group, each with its
 * sender's name), and the compose bar. The compose bar is
 * built once and kept, so re-rendering the messages on every event never
 * loses what the user is typing; which message the menu is open on, and
 * which one is being replied to or edited, are kept here for the same
 * reason. An open menu closes on a click outside it or on Escape.
 */
import type { StoredMessage } from '../../../src/sdk/browser.js';
import type { ChatInfo } from '../chat-info.js';
import { fieldValue, h, replaceChildren } from '../dom.js';
import { avatar } from './common.js';
import type { AttachmentState } from '../attachments.js';
import { messageView } from './message-bubble.js';
import type { MessageActions } from './message-menu.js';
import { isShown, messageKey, TIMER_CHOICES } from './message-parts.js';

/** What the conversation reports to the app. */
export interface ConversationHandlers {
  /**
   * Sends `text` (a reply to `replyTo` when given); resolves once stored and
   * sent, rejects with the failure.
   */
  readonly send: (text: string, replyTo?: StoredMessage) => Promise<void>;
  /** Replaces the text of one of the user's messages; rejects with the failure. */
  readonly edit: (message: StoredMessage, text: string) => Promise<void>;
  readonly react: (message: StoredMessage, emoji: string) => void;
  readonly removeReaction: (message: StoredMessage) => void;
  readonly deleteForMe: (message: StoredMessage) => void;
  readonly deleteForEveryone: (message: StoredMessage) => void;
  /** Sets the chat's disappearing timer (seconds, one of TIMER_CHOICES). */
  readonly setTimer: (seconds: number) => void;
  /** Sends `file` with `caption`, reporting the fraction uploaded. */
  readonly sendFile: (
    file: File,
    caption: string,
    progress: (fraction: number) => void,
  ) => Promise<void>;
  /** The download state of a message's attachment (starts the download). */
  readonly attachment: (message: StoredMessage) => AttachmentState | undefined;
  readonly showSafetyNumber: () => void;
  /**
   * Accepts the contact's new account key (after the user compared the
   * safety number); `verified` when the old key had been verified.
   */
  readonly acceptNewKey: (verified: boolean) => Promise<void>;
  /**
   * The compose box holds text the user is typing (`true`), or was sent,
   * emptied or left (`false`): drives this device's typing indicator.
   */
  readonly composing: (active: boolean) => void;
}

/** A changed account key of this chat's contact that the user has not accepted. */
export interface KeyWarning {
  /** The old key had been verified: the new one is accepted as verified. */
  readonly verified: boolean;
}

/** What the compose bar does with its text: send, reply to a message, or edit one. */
type ComposeMode =
  | { readonly kind: 'send' }
  | { readonly kind: 'reply'; readonly message: StoredMessage }
  | { readonly kind: 'edit'; readonly message: StoredMessage };

/** The view of one chat. */
export class ConversationView {
  readonly element: HTMLElement;
  readonly #list: HTMLElement;
  readonly #warning: HTMLElement;
  readonly #handlers: ConversationHandlers;
  readonly #self: string;
  readonly #input: HTMLInputElement;
  readonly #modeBar: HTMLElement;
  readonly #timer: HTMLSelectElement;
  readonly #typing: HTMLElement;
  #warningShown: KeyWarning | undefined;
  #mode: ComposeMode = { kind: 'send' };
  /** The message whose menu is open (its key), if any. */
  #menuFor: string | undefined;
  #messages: readonly StoredMessage[] = [];
  readonly #info: ChatInfo;
  /** Removes the document listeners (a click outside, Escape) when the view goes. */
  readonly #listening = new AbortController();

  constructor(
    readonly chat: string,
    self: string,
    handlers: ConversationHandlers,
    info: ChatInfo = { chat, title: chat },
  ) {
    this.#handlers = handlers;
    this.#self = self;
    this.#info = info;
    this.#modeBar = h('div', { class: 'compose-mode', testid: 'compose-mode' });
    this.#modeBar.hidden = true;
    this.#timer = timerSelect(handlers.setTimer);
    if (info.group !== undefined && !info.group.admin) {
      // Receivers refuse a timer change from anyone but an admin.
      this.#timer.disabled = true;
      this.#timer.title = 'Only group admins change the timer';
    }
    this.#typing = h('span', { class: 'typing', testid: 'typing', ariaLive: 'polite' }, 'typing…');
    this.#typing.hidden = true;
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
    this.#input = input;
    // Editing an old message is not "typing" a new one.
    const composing = (): boolean => input.value.trim() !== '' && this.#mode.kind !== 'edit';
    input.addEventListener('input', () => handlers.composing(composing()));
    input.addEventListener('blur', () => handlers.composing(false));
    const button = h('button', { type: 'submit', class: 'primary', testid: 'send' }, 'Send');
    const picker = h('input', { type: 'file' });
    picker.dataset['testid'] = 'attach-input';
    picker.hidden = true;
    const progress = h('progress', { class: 'transfer', testid: 'send-progress' });
    progress.max = 1;
    progress.hidden = true;
    const sendFile = (file: File): void => {
      const caption = input.value.trim();
      progress.hidden = false;
      progress.value = 0;
      attach.disabled = true;
      handlers
        .sendFile(file, caption, (fraction) => {
          progress.value = fraction;
        })
        .then(
          () => {
            input.value = '';
          },
          // The app shows the error; the caption stays to try again.
          () => undefined,
        )
        .finally(() => {
          progress.hidden = true;
          attach.disabled = false;
          picker.value = '';
        });
    };
    picker.onchange = () => {
      const file = picker.files?.[0];
      if (file !== undefined) sendFile(file);
    };
    const attach = h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        testid: 'attach',
        title: 'Attach a file',
        onclick: () => picker.click(),
      },
      'Attach',
    );
    const form = h(
      'form',
      {
        class: 'compose',
        onsubmit: (event) => {
          event.preventDefault();
          const text = fieldValue(form, 'text').trim();
          if (text === '') return;
          button.disabled = true;
          handlers.composing(false);
          const mode = this.#mode;
          const done =
            mode.kind === 'edit'
              ? handlers.edit(mode.message, text)
              : handlers.send(text, mode.kind === 'reply' ? mode.message : undefined);
          done.then(
            () => {
              input.value = '';
              this.#setMode({ kind: 'send' });
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
      attach,
      picker,
      input,
      button,
      progress,
    );
    this.element = h(
      'section',
      { class: 'conversation', testid: 'conversation' },
      h(
        'header',
        { class: 'pane-header' },
        avatar(info.title),
        h(
          'div',
          { class: 'who' },
          h('strong', { testid: 'conversation-title' }, info.title),
          this.#typing,
        ),
        h(
          'label',
          { class: 'timer-setting', title: 'Disappearing messages' },
          'Disappearing',
          this.#timer,
        ),
        // A group has no one safety number: each member has their own 1:1 one.
        info.group === undefined &&
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
      this.#modeBar,
      form,
    );
    // Drag and drop anywhere on the conversation sends the first file.
    this.element.addEventListener('dragover', (event) => {
      event.preventDefault();
      this.element.classList.add('dropping');
    });
    this.element.addEventListener('dragleave', () => this.element.classList.remove('dropping'));
    this.element.addEventListener('drop', (event) => {
      event.preventDefault();
      this.element.classList.remove('dropping');
      const file = event.dataTransfer?.files[0];
      if (file !== undefined) sendFile(file);
    });
    // An open menu closes on a click anywhere outside it (its own button
    // and items stop their clicks), or on Escape.
    const signal = this.#listening.signal;
    document.addEventListener(
      'click',
      (event) => {
        if (this.#menuFor === undefined) return;
        const target = event.target;
        if (target instanceof Element && target.closest('[data-testid="message-menu"]') !== null) {
          return;
        }
        this.#openMenu(undefined);
      },
      { signal },
    );
    document.addEventListener(
      'keydown',
      (event) => {
        if (event.key === 'Escape' && this.#menuFor !== undefined) this.#openMenu(undefined);
      },
      { signal },
    );
  }

  /** The view is gone: stops listening to the document. */
  dispose(): void {
    this.#listening.abort();
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
    this.#messages = messages;
    const list = this.#list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const byId = new Map(messages.map((m) => [messageKey(m.id), m]));
    const shown = messages.filter(isShown);
    // A reply or edit whose message went away (deleted, expired) is dropped.
    if (this.#mode.kind !== 'send') {
      const target = byId.get(messageKey(this.#mode.message.id));
      if (target === undefined || !isShown(target) || target.deleted !== undefined) {
        this.#setMode({ kind: 'send' });
      }
    }
    const handlers = this.#handlers;
    const actions: MessageActions = {
      reply: (message) => this.#setMode({ kind: 'reply', message }),
      edit: (message) => this.#setMode({ kind: 'edit', message }),
      react: handlers.react,
      deleteForMe: handlers.deleteForMe,
      deleteForEveryone: handlers.deleteForEveryone,
    };
    replaceChildren(
      list,
      shown.length === 0 && h('p', { class: 'empty' }, 'No messages yet. Say hello.'),
      ...shown.map((message) => {
        const key = messageKey(message.id);
        return messageView(message, {
          self: this.#self,
          showSender: this.#info.group !== undefined,
          byId,
          attachment: handlers.attachment(message),
          menuOpen: this.#menuFor === key,
          openMenu: () => this.#openMenu(key),
          closeMenu: () => this.#openMenu(undefined),
          actions,
          removeReaction: () => handlers.removeReaction(message),
        });
      }),
    );
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /** Shows the chat's current disappearing timer in the header. */
  setTimer(seconds: number): void {
    const value = String(seconds);
    if (this.#timer.value !== value && document.activeElement !== this.#timer) {
      this.#timer.value = value;
    }
  }

  /**
   * Shows who is typing under the title ("typing…" in a 1:1 chat, the
   * members' names in a group), or hides it when `typers` is empty.
   */
  setTyping(typers: readonly string[]): void {
    this.#typing.hidden = typers.length === 0;
    this.#typing.textContent = this.#info.group === undefined ? 'typing…' : typingText(typers);
  }

  #openMenu(key: string | undefined): void {
    this.#menuFor = key;
    this.update(this.#messages);
  }

  /** Switches the compose bar between send, reply (quote shown) and edit (text loaded). */
  #setMode(mode: ComposeMode): void {
    const previous = this.#mode;
    this.#mode = mode;
    if (mode.kind === 'send') {
      this.#modeBar.hidden = true;
      replaceChildren(this.#modeBar);
      if (previous.kind === 'edit') this.#input.value = '';
      return;
    }
    const author =
      mode.message.outgoing || mode.message.sender === this.#self ? 'You' : mode.message.sender;
    replaceChildren(
      this.#modeBar,
      h(
        'span',
        { class: 'grow' },
        h('strong', {}, mode.kind === 'reply' ? `Replying to ${author}` : 'Editing'),
        ' ',
        h('span', { class: 'quote-text' }, mode.message.text),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          testid: 'compose-cancel',
          onclick: () => this.#setMode({ kind: 'send' }),
        },
        'Cancel',
      ),
    );
    this.#modeBar.hidden = false;
    if (mode.kind === 'edit') this.#input.value = mode.message.text;
    this.#input.focus();
  }
}

/** "bob is typing…", "bob and carol are typing…", "bob, carol and dan are typing…". */
export function typingText(typers: readonly string[]): string {
  if (typers.length <= 1) return `${typers[0] ?? 'Someone'} is typing…`;
  const last = typers[typers.length - 1] ?? '';
  return `${typers.slice(0, -1).join(', ')} and ${last} are typing…`;
}

/** The header's disappearing-timer setting; a change is sent at once. */
function timerSelect(set: (seconds: number) => void): HTMLSelectElement {
  const select = h('select', { testid: 'timer', ariaLabel: 'Disappearing messages' });
  for (const choice of TIMER_CHOICES) {
    const option = h('option', {}, choice.label);
    option.value = String(choice.seconds);
    select.append(option);
  }
  select.addEventListener('change', () => {
    set(Number(select.value));
    select.blur();
  });
  return select;
}
