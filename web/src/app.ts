/**
 * The signed-in app: sidebar plus one pane (a conversation, the new-chat
 * form, a safety number, or the devices). It holds the UI state, listens to
 * the connection's events, and re-renders from the store — the store, not
 * the events, is the source of truth, so a reload shows exactly the same
 * thing. When the server says this device was removed, it stops and hands
 * over to `onLoggedOut`, which wipes the profile.
 */
import { historyProgressBar, showHistoryProgress } from './history-progress.js';
import {
  ClientError,
  type ClientEvent,
  type DeviceStore,
  isPrimaryAccount,
  isValidAccountName,
  type LocalAccount,
  LOGOUT_REASONS,
  postQuantumEnabled,
  setPostQuantumEnabled,
} from '../../src/sdk/browser.js';
import { chatInfo } from './chat-info.js';
import { listChats, readMark, setReadMark, unreadOf } from './chats.js';
import { Connection, type ConnectionStatus } from './connection.js';
import { WebAttachments } from './attachments.js';
import { chatCalls, type ChatCalls } from './chat-actions.js';
import { DeviceActions } from './device-actions.js';
import { DevicesPane } from './devices-pane.js';
import { h, replaceChildren } from './dom.js';
import type { Notices } from './notices.js';
import { acceptNewKey, keyWarning, safetyNumberDigits } from './trust-actions.js';
import { eventNotice, removalReason } from './trust-notices.js';
import { TypingIndicator } from './typing-indicator.js';
import { chatList } from './ui/chat-list.js';
import { ConversationView } from './ui/conversation.js';
import { newChatPane } from './ui/new-chat.js';
import { safetyNumberPane } from './ui/safety-number.js';

/** What the main pane shows. */
type Pane =
  | { readonly kind: 'empty' }
  | { readonly kind: 'chat'; readonly chat: string }
  | { readonly kind: 'new-chat' }
  | { readonly kind: 'safety'; readonly chat: string; readonly digits: string }
  | { readonly kind: 'devices' };

/** The app of a registered device. */
export class App {
  readonly #root: HTMLElement;
  readonly #sidebar = h('div', { class: 'sidebar-slot' });
  readonly #historyBar = historyProgressBar();
  readonly #pane = h('main', { class: 'pane' });
  readonly #connection: Connection;
  readonly #attachments: WebAttachments;
  #status: ConnectionStatus = 'connecting';
  #view: Pane = { kind: 'empty' };
  #conversation: ConversationView | undefined;
  /** Chats opened with "new chat" that have no message yet. */
  readonly #draftChats = new Set<string>();
  #rendering: Promise<void> | undefined;
  #renderAgain = false;
  #lastFailure = '';
  #devicesPane: DevicesPane | undefined;
  readonly #devices: DeviceActions;
  readonly #typing: TypingIndicator;
  /** Notices already shown (a refused device is reported once, not on every send). */
  readonly #shownNotices = new Set<string>();
  /** Set once the device was removed: nothing may touch the store any more. */
  #gone = false;

  constructor(
    root: HTMLElement,
    private readonly store: DeviceStore,
    private readonly account: LocalAccount,
    serverUrl: string,
    private readonly notices: Notices,
    /** The device was removed from its account (the server's reason word); wipe and say so. */
    private readonly onLoggedOut: (reason: string) => Promise<void>,
  ) {
    this.#root = root;
    const blobOrigin = new URL(serverUrl);
    blobOrigin.protocol = blobOrigin.protocol === 'wss:' ? 'https:' : 'http:';
    this.#attachments = new WebAttachments(
      blobOrigin.origin,
      () => this.#connection.client,
      () => this.refresh(),
    );
    this.#connection = new Connection(store, serverUrl, {
      onStatus: (status) => {
        this.#status = status;
        if (status === 'online') {
          this.#lastFailure = '';
          this.#devicesPane?.load();
        }
        this.refresh();
      },
      onEvent: (event) => this.#onEvent(event),
      onFailure: (error) => {
        // One notice per kind of failure, not one per retry.
        const code = ClientError.is(error) ? error.code : 'unknown';
        if (code !== this.#lastFailure) notices.error(error);
        this.#lastFailure = code;
      },
      onStopped: (reason, error) => {
        switch (reason) {
          case 'logged-out':
            // A removed device is refused at login (the reason is in the
            // refusal), or was told so by a LoggedOut push (already handled).
            this.#loggedOut(
              ClientError.isServer(error, 'device-removed')
                ? removalReason(error.serverMessage, Object.keys(LOGOUT_REASONS))
                : 'removed',
            );
            return;
          case 'replaced':
            // Reconnecting would evict the newer connection, which would
            // then evict this one: the two would take turns for ever.
            notices.show(
              'error',
              'This device connected again from another tab or window, so this page stopped. Reload it to use it here.',
            );
            return;
          case 'failed':
            notices.error(error);
            return;
        }
      },
    });
    this.#devices = new DeviceActions(() => this.#connection.device);
    this.#typing = new TypingIndicator({
      self: account.account,
      settings: store.settings,
      device: () => this.#connection.device,
      changed: (chat, typers) => {
        if (this.#conversation?.chat === chat) this.#conversation.setTyping(typers);
      },
      failed: (error) => notices.error(error),
    });
    document.addEventListener('visibilitychange', () => this.refresh());
  }

  /** Shows the app and starts the connection. */
  start(): void {
    replaceChildren(
      this.#root,
      h('div', { class: 'app' }, h('div', {}, this.#historyBar, this.#sidebar), this.#pane),
    );
    this.#renderPane();
    this.refresh();
    this.#connection.start();
    this.#typing.load();
  }

  /** Re-renders from the store; calls during a render coalesce into one more. */
  refresh(): void {
    if (this.#gone) return;
    if (this.#rendering !== undefined) {
      this.#renderAgain = true;
      return;
    }
    this.#rendering = this.#render()
      .catch((error: unknown) => {
        // After a logout the store is being deleted under a render: expected, not news.
        if (!this.#gone) this.notices.error(error);
      })
      .finally(() => {
        this.#rendering = undefined;
        if (this.#renderAgain) {
          this.#renderAgain = false;
          this.refresh();
        }
      });
  }

  #onEvent(event: ClientEvent): void {
    const notice = eventNotice(event, this.account.account);
    if (notice !== undefined && !this.#shownNotices.has(notice.key)) {
      this.#shownNotices.add(notice.key);
      this.notices.show(notice.kind, notice.text);
    }
    switch (event.type) {
      case 'message':
        this.#typing.messageReceived(event.message.chat, event.message.sender);
        this.#draftChats.delete(event.message.chat);
        this.refresh();
        return;
      case 'receipt':
      case 'queue-drained':
      case 'read':
      case 'message-edited':
      case 'message-deleted':
      case 'reaction':
      case 'timer-changed':
        this.refresh();
        return;
      case 'devices-changed':
        if (event.account !== this.account.account) return;
        if (event.removed.length > 0) {
          this.#devices.pruneRemoved().catch((error: unknown) => this.notices.error(error));
        }
        this.#devicesPane?.load();
        return;
      case 'logged-out':
        this.#loggedOut(event.reason);
        return;
      case 'decryption-failure':
        this.notices.show(
          'info',
          `A message from ${event.from} could not be decrypted${event.retryRequested ? '; it was asked to send it again' : ''}.`,
        );
        return;
      case 'error':
        this.notices.show('error', `A background task failed (${event.code}).`);
        return;
      case 'retry-request':
      case 'pre-keys-uploaded':
      case 'disconnected':
      case 'account-key-changed':
        // The open chat shows the warning and its accept button (from the store).
        this.refresh();
        return;
      case 'history-sync':
        if (showHistoryProgress(this.#historyBar, event)) this.refresh();
        return;
      case 'device-refused':
      case 'session-refused':
      case 'group-changed':
      case 'group-change-refused':
      case 'group-message-refused':
      case 'chat-event-refused':
        return;
      case 'typing':
        this.#typing.received(event);
        return;
    }
  }

  /** Stops everything once, then lets the owner wipe the profile. */
  #loggedOut(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#typing.close();
    const wipe = async (): Promise<void> => {
      await this.#connection.stop();
      // A render may still be reading the store; let it finish before deleting it.
      await this.#rendering;
      await this.onLoggedOut(reason === '' ? 'removed' : reason);
    };
    wipe().catch((error: unknown) => this.notices.error(error));
  }

  async #render(): Promise<void> {
    const selected =
      this.#view.kind === 'chat' || this.#view.kind === 'safety' ? this.#view.chat : undefined;
    const chats = await listChats(this.store, [...this.#draftChats]);
    replaceChildren(
      this.#sidebar,
      chatList({
        account: this.account.account,
        status: this.#status,
        chats,
        selected,
        onSelect: (chat) => this.#show({ kind: 'chat', chat }),
        onNewChat: () => this.#show({ kind: 'new-chat' }),
        onDevices: () => this.#show({ kind: 'devices' }),
        devicesOpen: this.#view.kind === 'devices',
      }),
    );
    const conversation = this.#conversation;
    if (conversation !== undefined) {
      const messages = await this.store.messages.list(conversation.chat);
      conversation.update(messages);
      conversation.setTimer((await this.store.chat.timer(conversation.chat))?.seconds ?? 0);
      conversation.setKeyWarning(await keyWarning(this.store, conversation.chat));
      await this.#markRead(conversation.chat);
    }
  }

  /** Sends read receipts for what the open, visible conversation shows, then moves the mark. */
  async #markRead(chat: string): Promise<void> {
    const client = this.#connection.client;
    if (client === undefined || document.visibilityState !== 'visible') return;
    const unread = unreadOf(await this.store.messages.list(chat), await readMark(this.store, chat));
    if (unread.length === 0) return;
    // The mark moves only after the receipt went out, so an offline read is
    // reported on the next connection instead of never.
    await client.markRead(
      chat,
      unread.map((m) => m.id),
    );
    await setReadMark(this.store, chat, Math.max(...unread.map((m) => m.receivedAt)));
    this.refresh();
  }

  #show(view: Pane): void {
    this.#view = view;
    this.#renderPane();
    this.refresh();
  }

  #renderPane(): void {
    const view = this.#view;
    // Leaving a chat (or re-opening it) ends this device's typing in it.
    this.#typing.stop();
    this.#conversation?.dispose();
    this.#conversation = undefined;
    this.#devicesPane?.close();
    this.#devicesPane = undefined;
    switch (view.kind) {
      case 'empty':
        replaceChildren(
          this.#pane,
          h(
            'div',
            { class: 'pane-empty' },
            h('h2', {}, 'Quintet'),
            h('p', {}, 'Select a chat or start a new one.'),
            h(
              'p',
              { class: 'hint' },
              'Messages are end-to-end encrypted. Keys never leave this browser.',
            ),
          ),
        );
        return;
      case 'chat':
        void this.#openChat(view.chat);
        return;
      case 'new-chat':
        replaceChildren(
          this.#pane,
          newChatPane({
            start: (account) => this.#startChat(account),
            cancel: () => this.#show({ kind: 'empty' }),
          }),
        );
        return;
      case 'safety':
        replaceChildren(
          this.#pane,
          safetyNumberPane(view.chat, view.digits, () =>
            this.#show({ kind: 'chat', chat: view.chat }),
          ),
        );
        return;
      case 'devices':
        this.#devicesPane = new DevicesPane({
          isPrimary: isPrimaryAccount(this.account),
          devices: this.#devices,
          notices: this.notices,
          online: () => this.#connection.api !== undefined,
          typing: this.#typing.settingHandlers,
          postQuantum: {
            postQuantumEnabled: () => postQuantumEnabled(this.store.settings),
            setPostQuantumEnabled: (on) => setPostQuantumEnabled(this.store.settings, on),
          },
          loggedOut: () => this.#loggedOut('logout'),
        });
        replaceChildren(this.#pane, this.#devicesPane.view.element);
        this.#devicesPane.load();
        return;
    }
  }

  /**
   * Opens the conversation of `chat` (its title and, for a group, whether
   * this account is an admin come from the store first).
   */
  async #openChat(chat: string): Promise<void> {
    const info = await chatInfo(this.store, chat, this.account.account);
    // Another pane was chosen meanwhile.
    if (
      this.#view.kind !== 'chat' ||
      this.#view.chat !== chat ||
      this.#conversation !== undefined
    ) {
      return;
    }
    const calls = chatCalls(
      chat,
      () => this.#connection.device,
      this.notices,
      () => {
        this.#draftChats.delete(chat);
        this.refresh();
      },
    );
    const conversation = new ConversationView(
      chat,
      this.account.account,
      {
        ...calls,
        sendFile: (file, caption, progress) => this.#sendFile(calls, file, caption, progress),
        attachment: (message) => this.#attachments.state(message),
        showSafetyNumber: () => void this.#openSafetyNumber(chat),
        acceptNewKey: async (verified) => {
          const digits = await acceptNewKey(this.#connection.client, this.notices, chat, verified);
          this.#show({ kind: 'safety', chat, digits });
        },
        composing: (active) => this.#typing.composing(chat, active),
      },
      info,
    );
    this.#conversation = conversation;
    conversation.setTyping(this.#typing.typers(chat));
    replaceChildren(this.#pane, conversation.element);
    this.refresh();
  }

  /** Uploads `file`, then sends it with `caption` (the chat's timer applies to it too). */
  async #sendFile(
    calls: ChatCalls,
    file: File,
    caption: string,
    progress: (fraction: number) => void,
  ): Promise<void> {
    if (this.#connection.client === undefined) {
      this.notices.show('error', 'Not connected. The file was not sent.');
      throw new ClientError('transport-closed', 'not connected');
    }
    let attachment;
    try {
      attachment = await this.#attachments.upload(file, progress);
    } catch (error) {
      this.notices.error(error);
      throw error;
    }
    await calls.send(caption, undefined, attachment);
  }

  async #startChat(account: string): Promise<void> {
    if (!isValidAccountName(account)) {
      this.notices.show('error', 'Account names are 3-32 characters: a-z, 0-9, "_", "." or "-".');
      return;
    }
    if (account === this.account.account) {
      this.notices.show('error', 'That is your own account.');
      return;
    }
    const api = this.#connection.api;
    if (api === undefined) {
      this.notices.show('error', 'Not connected. Try again when online.');
      return;
    }
    try {
      await api.getDevices(account);
    } catch (error) {
      this.notices.error(error);
      return;
    }
    this.#draftChats.add(account);
    this.#show({ kind: 'chat', chat: account });
  }

  async #openSafetyNumber(chat: string): Promise<void> {
    const digits = await safetyNumberDigits(this.#connection.client, this.notices, chat);
    if (digits !== undefined) this.#show({ kind: 'safety', chat, digits });
  }
}
