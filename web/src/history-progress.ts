/**
 * The history import on a newly linked tab: a progress bar above the chat
 * list ("Syncing history: 12,345 / 50,000 messages"), the chats filling in
 * as batches commit, then a final line.
 */
import type { HistorySyncEvent } from '../../src/sdk/browser.js';
import { h } from './dom.js';

/** The (hidden until needed) progress element. */
export function historyProgressBar(): HTMLElement {
  const bar = h(
    'div',
    { class: 'history-progress', testid: 'history-progress', ariaLive: 'polite' },
    h('span', {}, ''),
    h('progress', {}),
  );
  bar.hidden = true;
  return bar;
}

const count = (n: number): string => n.toLocaleString('en-US');

/** Shows `event` in `bar`; true when the chat list should be re-rendered. */
export function showHistoryProgress(bar: HTMLElement, event: HistorySyncEvent): boolean {
  const label = bar.querySelector('span');
  const progress = bar.querySelector('progress');
  if (label === null || progress === null) return false;
  bar.hidden = false;
  progress.max = Math.max(1, event.totalMessages);
  progress.value = event.messages;
  switch (event.phase) {
    case 'bootstrap':
      label.textContent = 'Receiving your account…';
      return false;
    case 'started':
    case 'progress':
      label.textContent = `Syncing history: ${count(event.messages)} / ${count(event.totalMessages)} messages`;
      return true;
    case 'done':
      label.textContent = `History synced: ${count(event.messages)} messages`;
      bar.dataset['done'] = 'true';
      return true;
    case 'declined':
      bar.hidden = true;
      return false;
    case 'failed':
      label.textContent = `History not imported (${event.code ?? 'failed'}); this device works without it.`;
      bar.dataset['done'] = 'true';
      return false;
  }
}
