/**
 * One conversation: header, messages with their ticks, and the compose bar.
 * The compose bar is built once and kept, so re-rendering the messages on
 * every event never loses what the user is typing.
 */
import type { StoredMessage } from '../../../src/sdk/browser.js';
import { fieldValue, h, replaceChildren } from '../dom.js';
import { tickGlyph, tickState } from '../ticks.js';
import { avatar, shortTime } from './common.js';
import { thumbnailUrl, type AttachmentState } from '../attachments.js';

/** What the conversation reports to the app. */
export interface ConversationHandlers {
  /** Sends `text`; resolves once stored and sent, rejects with the failure. */
  readonly send: (text: string) => Promise<void>;
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
      ...messages.map((message) => bubble(message, this.#handlers.attachment(message))),
    );
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}

function bubble(message: StoredMessage, state: AttachmentState | undefined): HTMLElement {
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
    attachmentView(message, state),
    message.text !== '' && h('span', { class: 'text' }, message.text),
    meta,
  );
}

/**
 * An image shows its inline thumbnail until the full image is downloaded
 * and verified; any other file becomes a download link once verified.
 */
function attachmentView(
  message: StoredMessage,
  state: AttachmentState | undefined,
): HTMLElement | undefined {
  const attachment = message.attachment;
  if (attachment === undefined || state === undefined) return undefined;
  const box = h('div', { class: 'attachment', testid: 'attachment' });
  const image = attachment.mimeType.startsWith('image/');
  if (state.kind === 'ready') {
    if (image) {
      const img = h('img', { class: 'attachment-image', testid: 'attachment-image' });
      img.src = state.url;
      img.alt = attachment.fileName;
      box.append(img);
    } else {
      const link = h(
        'a',
        { class: 'attachment-file', testid: 'attachment-link' },
        attachment.fileName,
      );
      link.href = state.url;
      link.download = attachment.fileName;
      box.append(link);
    }
    return box;
  }
  if (image && attachment.thumbnail !== undefined) {
    const thumb = h('img', { class: 'attachment-thumb', testid: 'attachment-thumbnail' });
    thumb.src = thumbnailUrl(message, attachment.thumbnail);
    thumb.alt = attachment.fileName;
    box.append(thumb);
  }
  if (state.kind === 'loading') {
    const bar = h('progress', { class: 'transfer', testid: 'receive-progress' });
    bar.max = Math.max(1, state.total);
    bar.value = state.done;
    box.append(h('span', { class: 'attachment-name' }, attachment.fileName), bar);
  } else {
    box.append(
      h(
        'span',
        { class: 'attachment-failed', testid: 'attachment-failed' },
        `${attachment.fileName}: ${state.reason}`,
      ),
    );
  }
  return box;
}
