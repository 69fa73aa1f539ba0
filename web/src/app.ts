/**
 * The signed-in app: sidebar plus one pane (a conversation, the new-chat
 * form, a safety number, or the devices). It holds the UI state, listens to
 * the connection's events, and re-renders from the store — the store, not
 * the events, is the source of truth, so a reload shows exactly the same
 * thing. When the server says this device was removed, it stops and hands
 * over to `onLoggedOut`, which wipes the profile.
 */
import { DEFAULT_HISTORY, parseHistoryChoice, type ApproveResult } from '../../src/sdk/browser.js';
import { historyProgressBar, showHistoryProgress } from './history-progress.js';
import {
  ClientError,
  type ClientEvent,
  type DeviceStore,
  isPrimaryAccount,
  isValidAccountName,
  type LocalAccount,
  LOGOUT_REASONS,
  sameBytes,
} from '../../src/sdk/browser.js';
import { listChats, readMark, setReadMark, unreadOf } from './chats.js';
import { Connection, type ConnectionStatus } from './connection.js';
import { WebAttachments } from './attachments.js';
import { chatCalls, type ChatCalls } from './chat-actions.js';
import { DeviceActions } from './device-actions.js';
import { h, replaceChildren } from './dom.js';
import type { Notices } from './notices.js';
import { eventNotice, removalReason } from './trust-notices.js';
import { TypingIndicator } from './typing-indicator.js';
import { chatList } from './ui/chat-list.js';
import { ConversationView, type KeyWarning } from './ui/conversation.js';
import { DevicesView } from './ui/devices.js';
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
  #devicesView: DevicesView | undefined;
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
          if (this.#devicesView !== undefined) this.#loadDevices();
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
      changed: (chat, typing) => {
        if (this.#conversation?.chat === chat) this.#conversation.setTyping(typing);
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
        this.#loadDevices();
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
      conversation.setKeyWarning(await this.#keyWarning(conversation.chat));
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
    this.#conversation = undefined;
    this.#devicesView = undefined;
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
      case 'chat': {
        const calls = chatCalls(
          view.chat,
          () => this.#connection.device,
          this.notices,
          () => {
            this.#draftChats.delete(view.chat);
            this.refresh();
          },
        );
        this.#conversation = new ConversationView(view.chat, this.account.account, {
          ...calls,
          sendFile: (file, caption, progress) => this.#sendFile(calls, file, caption, progress),
          attachment: (message) => this.#attachments.state(message),
          showSafetyNumber: () => void this.#openSafetyNumber(view.chat),
          acceptNewKey: (verified) => this.#acceptNewKey(view.chat, verified),
          composing: (active) => this.#typing.composing(view.chat, active),
        });
        this.#conversation.setTyping(this.#typing.isTyping(view.chat));
        replaceChildren(this.#pane, this.#conversation.element);
        return;
      }
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
        this.#devicesView = new DevicesView(isPrimaryAccount(this.account), {
          approve: (code, pin, history) => this.#approve(code, pin, history),
          remove: (deviceId, pin) => this.#remove(deviceId, pin),
          logoutSelf: () => this.#logoutSelf(),
          scanFailed: (error) => this.notices.error(error),
          ...this.#typing.settingHandlers,
        });
        replaceChildren(this.#pane, this.#devicesView.element);
        this.#loadDevices();
        return;
    }
  }

  /**
   * (Re)loads the device list into the open devices pane. With `until`, keeps
   * reloading every second (for up to a minute) until that device is listed:
   * an approved companion appears only once it completed its side of the link.
   */
  #loadDevices(until?: number, deadline = Date.now() + 60_000): void {
    const view = this.#devicesView;
    if (view === undefined || this.#connection.api === undefined) return;
    this.#devices.list().then(
      (devices) => {
        if (this.#devicesView !== view) return;
        view.update(devices);
        const missing = until !== undefined && !devices.some((d) => d.deviceId === until);
        if (missing && Date.now() < deadline) {
          setTimeout(() => this.#loadDevices(until, deadline), 1_000);
        }
      },
      (error: unknown) => this.notices.error(error),
    );
  }

  async #approve(code: string, pin: string, history: string): Promise<void> {
    try {
      const choice = parseHistoryChoice(history) ?? DEFAULT_HISTORY;
      const { approved, done } = await this.#devices.approve(code, pin, choice);
      this.notices.show('info', `Approved. Device ${approved.deviceId} is finishing its link…`);
      this.#loadDevices(approved.deviceId);
      this.#reportHistory(approved.deviceId, done);
    } catch (error) {
      this.notices.error(error);
      throw error;
    }
  }

  /** Bootstrap state, then (unless declined) history, to the approved device; in the background. */
  #reportHistory(deviceId: number, done: Promise<ApproveResult>): void {
    done.then(
      ({ history, historyError }) => {
        if (history === undefined) {
          this.notices.error(historyError);
          return;
        }
        this.notices.show(
          history.error === undefined ? 'info' : 'error',
          history.error !== undefined
            ? `History could not be sent (${history.error}); the device works without it.`
            : history.messages === undefined
              ? `Device ${deviceId} received your account state (no history).`
              : `Device ${deviceId} received ${history.messages} messages of history.`,
        );
      },
      (error: unknown) => this.notices.error(error),
    );
  }

  async #remove(deviceId: number, pin: string): Promise<void> {
    try {
      await this.#devices.remove(deviceId, pin);
      this.notices.show('info', `Device ${deviceId} was logged out.`);
    } catch (error) {
      this.notices.error(error);
      throw error;
    }
    this.#loadDevices();
  }

  async #logoutSelf(): Promise<void> {
    try {
      await this.#devices.logoutSelf();
    } catch (error) {
      this.notices.error(error);
      throw error;
    }
    this.#loggedOut('logout');
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

  /** The chat contact's changed account key waiting for acceptance, if any (from the store). */
  async #keyWarning(chat: string): Promise<KeyWarning | undefined> {
    const trust = await this.store.accountTrust.get(chat);
    if (trust?.pendingKey === undefined) return undefined;
    const pinned = await this.store.verifiedDevices.getAccount(chat);
    const verified =
      trust.verifiedKey !== undefined &&
      pinned !== undefined &&
      sameBytes(trust.verifiedKey, pinned.accountKey);
    return { verified };
  }

  /** The "Accept new key" button: the user's trust decision. */
  async #acceptNewKey(chat: string, verified: boolean): Promise<void> {
    const client = this.#connection.client;
    if (client === undefined) {
      this.notices.show('error', 'Not connected. Accepting a key needs the server.');
      throw new ClientError('transport-closed', 'not connected');
    }
    try {
      const decision = await client.trust(chat, { verified });
      this.notices.show('info', `Accepted ${chat}'s new account key. You can send again.`);
      this.#show({ kind: 'safety', chat, digits: decision.safetyNumber.displayable });
    } catch (error) {
      this.notices.error(error);
      throw error;
    }
  }

  async #openSafetyNumber(chat: string): Promise<void> {
    const client = this.#connection.client;
    if (client === undefined) {
      this.notices.show('error', 'Not connected. The safety number needs the server.');
      return;
    }
    try {
      const fingerprint = await client.safetyNumber(chat);
      this.#show({ kind: 'safety', chat, digits: fingerprint.displayable });
    } catch (error) {
      this.notices.error(error);
    }
  }
}
