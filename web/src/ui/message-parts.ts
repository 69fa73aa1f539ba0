/**
 * The chat-state parts of a message bubble (docs/protocol.md, "Chat
 * events"): the quoted message above a reply, the reactions under it, the
 * "edited" and "deleted" marks, and the line a timer change leaves in the
 * chat. All text goes in through `h` (textContent), so a quoted or edited
 * text cannot inject markup.
 */
import type { StoredMessage } from '../../../src/sdk/browser.js';
import { h } from '../dom.js';

/** The disappearing-timer choices of the chat header, in seconds (0: off). */
export const TIMER_CHOICES: readonly { readonly seconds: number; readonly label: string }[] = [
  { seconds: 0, label: 'Off' },
  { seconds: 86_400, label: '24 hours' },
  { seconds: 604_800, label: '7 days' },
  { seconds: 7_776_000, label: '90 days' },
];

/** "24 hours", "off", or the raw seconds for a value no choice names. */
export function timerLabel(seconds: number): string {
  const choice = TIMER_CHOICES.find((c) => c.seconds === seconds);
  return choice === undefined ? `${seconds} s` : choice.label.toLowerCase();
}

/** A message id as a map key (ids are 16 random bytes). */
export function messageKey(id: Uint8Array): string {
  let key = '';
  for (const byte of id) key += byte.toString(16).padStart(2, '0');
  return key;
}

/** A message the list shows at all: deleted-for-me and expired ones are gone from view. */
export function isShown(message: StoredMessage): boolean {
  return message.deleted !== 'me' && message.deleted !== 'expired';
}

/**
 * The quote above a reply: the original's current text when this device
 * has it, else the snippet the reply carried, marked "original not
 * available". A quote of a message deleted for everyone shows no text:
 * the author took it back.
 */
export function quoteView(
  message: StoredMessage,
  byId: ReadonlyMap<string, StoredMessage>,
  self: string,
): HTMLElement | undefined {
  const quote = message.replyTo;
  if (quote === undefined) return undefined;
  const original = byId.get(messageKey(quote.id));
  const live = original !== undefined && original.deleted === undefined;
  const text = live ? original.text : original?.deleted === 'everyone' ? '' : quote.snippet;
  const box = h(
    'div',
    { class: 'quote', testid: 'quote' },
    h('strong', { class: 'quote-author' }, quote.author === self ? 'You' : quote.author),
    text !== '' && h('span', { class: 'quote-text' }, text),
    !live && h('em', { class: 'quote-missing', testid: 'quote-missing' }, 'original not available'),
  );
  return box;
}

/** One reaction chip per emoji with its count; the user's own can be tapped to remove it. */
export function reactionsView(
  message: StoredMessage,
  self: string,
  remove: () => void,
): HTMLElement | undefined {
  const counts = new Map<string, { count: number; mine: boolean; who: string[] }>();
  for (const [account, mark] of Object.entries(message.reactions ?? {})) {
    if (mark.removed || mark.emoji === '') continue;
    const entry = counts.get(mark.emoji) ?? { count: 0, mine: false, who: [] };
    entry.count++;
    entry.who.push(account === self ? 'you' : account);
    if (account === self) entry.mine = true;
    counts.set(mark.emoji, entry);
  }
  if (counts.size === 0) return undefined;
  const row = h('div', { class: 'reactions', testid: 'reactions' });
  for (const [emoji, entry] of counts) {
    const chip = h(
      'button',
      {
        type: 'button',
        class: entry.mine ? 'reaction mine' : 'reaction',
        testid: 'reaction',
        title: entry.mine ? `${entry.who.join(', ')} — tap to remove yours` : entry.who.join(', '),
        disabled: !entry.mine,
        onclick: remove,
      },
      entry.count > 1 ? `${emoji} ${entry.count}` : emoji,
    );
    chip.dataset['emoji'] = emoji;
    row.append(chip);
  }
  return row;
}

/** The centred line a timer change leaves in the chat. */
export function timerNotice(message: StoredMessage, self: string): HTMLElement {
  const seconds = message.timerChange ?? 0;
  const who = message.outgoing || message.sender === self ? 'You' : message.sender;
  return h(
    'p',
    { class: 'chat-notice', testid: 'timer-notice' },
    seconds === 0
      ? `${who} turned off disappearing messages.`
      : `${who} set disappearing messages to ${timerLabel(seconds)}.`,
  );
}
