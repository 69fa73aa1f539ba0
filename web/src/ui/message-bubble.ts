/**
 * One message in the list: a bubble with its attachment, text, time and
 * ticks, plus its chat state — the quote of a reply, "edited" and
 * "deleted" marks, reactions — and the per-message menu. A timer change is
 * a centred notice instead of a bubble.
 */
import type { StoredMessage } from '../../../src/sdk/browser.js';
import { h } from '../dom.js';
import { tickGlyph, tickState } from '../ticks.js';
import { shortTime } from './common.js';
import { thumbnailUrl, type AttachmentState } from '../attachments.js';
import { menuButton, messageMenu, onLongPress, type MessageActions } from './message-menu.js';
import { messageKey, quoteView, reactionsView, timerNotice } from './message-parts.js';

/** What a bubble needs besides its message. */
export interface BubbleContext {
  /** This account's name (own reactions, "You" in quotes). */
  readonly self: string;
  /** A group chat: others' messages name their sender. */
  readonly showSender: boolean;
  /** The chat's messages by id (the quoted originals). */
  readonly byId: ReadonlyMap<string, StoredMessage>;
  readonly attachment: AttachmentState | undefined;
  /** The menu of this message is open. */
  readonly menuOpen: boolean;
  readonly openMenu: () => void;
  readonly closeMenu: () => void;
  readonly actions: MessageActions;
  readonly removeReaction: () => void;
}

/** The element of one message (or of a timer change). */
export function messageView(message: StoredMessage, context: BubbleContext): HTMLElement {
  if (message.timerChange !== undefined) return timerNotice(message, context.self);
  const own = message.outgoing || message.sender === context.self;
  const meta = h('span', { class: 'meta' });
  if (message.edit !== undefined && message.deleted === undefined) {
    meta.append(h('span', { class: 'edited', testid: 'edited' }, 'edited'), ' ');
  }
  if (message.expiresAt !== undefined) {
    const at = new Date(message.expiresAt).toLocaleString();
    meta.append(h('span', { class: 'expiring', title: `Disappears ${at}` }, 'disappearing'), ' ');
  }
  meta.append(shortTime(message.sentAt));
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
  const deleted = message.deleted !== undefined;
  const element = h(
    'div',
    { class: message.outgoing ? 'bubble out' : 'bubble in', testid: 'message' },
    menuButton(context.openMenu),
    context.showSender && !own && h('span', { class: 'sender', testid: 'sender' }, message.sender),
    !deleted && quoteView(message, context.byId, context.self),
    !deleted && attachmentView(message, context.attachment),
    deleted
      ? h('em', { class: 'text deleted', testid: 'deleted' }, 'This message was deleted')
      : message.text !== '' && h('span', { class: 'text' }, message.text),
    meta,
    !deleted && reactionsView(message, context.self, context.removeReaction),
    context.menuOpen && messageMenu(message, own, context.actions, context.closeMenu),
  );
  element.dataset['id'] = messageKey(message.id);
  onLongPress(element, context.openMenu);
  return element;
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
