/** The sidebar: who this device is, its connection, and the chats with unread counts. */
import type { ChatSummary } from '../chats.js';
import type { ConnectionStatus } from '../connection.js';
import { h } from '../dom.js';
import { tickGlyph, tickState } from '../ticks.js';
import { avatar, shortTime } from './common.js';

/** What the sidebar shows and reports. */
export interface ChatListProps {
  readonly account: string;
  readonly status: ConnectionStatus;
  readonly chats: readonly ChatSummary[];
  readonly selected: string | undefined;
  readonly onSelect: (chat: string) => void;
  readonly onNewChat: () => void;
  readonly onDevices: () => void;
  /** Whether the devices pane is open (its button is then highlighted). */
  readonly devicesOpen: boolean;
}

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  connecting: 'Connecting…',
  online: 'Online',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/** Renders the sidebar. */
export function chatList(props: ChatListProps): HTMLElement {
  const rows = props.chats.map((summary) => chatRow(summary, props));
  return h(
    'aside',
    { class: 'sidebar' },
    h(
      'header',
      { class: 'sidebar-header' },
      avatar(props.account),
      h(
        'div',
        { class: 'who' },
        h('strong', { testid: 'self' }, props.account),
        h(
          'span',
          { class: `status status-${props.status}`, testid: 'status' },
          STATUS_TEXT[props.status],
        ),
      ),
      h(
        'button',
        {
          type: 'button',
          class: props.devicesOpen ? 'secondary small active' : 'secondary small',
          title: "This account's devices",
          testid: 'devices-open',
          onclick: props.onDevices,
        },
        'Devices',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'icon',
          title: 'New chat',
          testid: 'new-chat',
          onclick: props.onNewChat,
        },
        '+',
      ),
    ),
    rows.length === 0
      ? h('p', { class: 'empty' }, 'No chats yet. Start one with +.')
      : h('ul', { class: 'chats', testid: 'chat-list' }, ...rows),
  );
}

function chatRow(summary: ChatSummary, props: ChatListProps): HTMLElement {
  const last = summary.last;
  const preview = h('span', { class: 'preview' });
  if (last?.outgoing === true) {
    const state = tickState(last);
    preview.append(h('span', { class: `ticks ticks-${state}` }, tickGlyph(state).text), ' ');
  }
  // In a group, whose message it is.
  if (last !== undefined && !last.outgoing && last.sender !== summary.chat && last.text !== '') {
    preview.append(`${last.sender}: `);
  }
  preview.append(last?.text ?? 'No messages yet');
  const item = h(
    'li',
    {
      class: summary.chat === props.selected ? 'chat selected' : 'chat',
      testid: 'chat',
      role: 'button',
      onclick: () => props.onSelect(summary.chat),
    },
    avatar(summary.title),
    h(
      'div',
      { class: 'chat-text' },
      h(
        'div',
        { class: 'chat-line' },
        h('span', { class: 'chat-name' }, summary.title),
        h('span', { class: 'chat-time' }, last === undefined ? '' : shortTime(last.sentAt)),
      ),
      h(
        'div',
        { class: 'chat-line' },
        preview,
        summary.unread > 0 &&
          h('span', { class: 'unread', testid: 'unread' }, String(summary.unread)),
      ),
    ),
  );
  item.dataset['chat'] = summary.chat;
  item.tabIndex = 0;
  return item;
}
