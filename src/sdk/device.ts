/**
 * `QuintetDevice`: the one way to run a Quintet device — the CLI, the
 * browser companion and any bot or bridge open it the same way. It wraps the
 * client core's `Reconnector` (which keeps one authenticated `QuintetClient`
 * up over a list of server URLs, with backoff and failover) and adds what an
 * application needs at the boundary: branded ids, one typed event stream,
 * waiting for a connection, and a `close()` after which nothing hangs.
 *
 * Registering and linking (making a device) are in setup.ts; they end with
 * `QuintetDevice.open` on the store they filled.
 */
import type { Attachment } from '../client/core/attachments/pointer.js';
import {
  downloadAttachment,
  uploadAttachment,
  type AttachmentSink,
  type AttachmentSource,
  type TransferProgress,
} from '../client/core/attachments/transfer.js';
import type { QuintetClient } from '../client/core/client.js';
import {
  listOwnDevices,
  logoutCompanion,
  pruneOwnDeviceList,
  removeCompanion,
  type DeviceSummary,
} from '../client/core/device-admin.js';
import { ClientError } from '../client/core/errors.js';
import { EventStream } from '../client/core/event-stream.js';
import type { HistoryChoice } from '../client/core/history/archive-builder.js';
import { approveCompanion } from '../client/core/linking/approve.js';
import { LinkingError } from '../client/core/linking/errors.js';
import type { SentText } from '../client/core/outbox.js';
import { Reconnector, type StopReason } from '../client/core/reconnector.js';
import { platformScheduler, type Scheduler } from '../client/core/scheduler.js';
import type { ServerApi } from '../client/core/server-api.js';
import type { DeviceStore } from '../client/core/store/device-store.js';
import { isPrimaryAccount, type LocalAccount } from '../client/core/store/records.js';
import { BlobClient, cachedBlobCredential } from '../client/transport/blob-client.js';
import { decodeLinkCode } from '../protocol/adv/index.js';
import type { Fingerprint } from '../protocol/fingerprint.js';
import { DeviceChat } from './chat.js';
import type { QuintetEvent } from './events.js';
import type { AccountName, DeviceId } from './ids.js';
import type { ApproveOptions, ApproveResult, OpenOptions } from './device-options.js';
import { serverList, type Platform } from './platform.js';

/** The default history reach for a new companion. */
const DEFAULT_APPROVE_HISTORY: HistoryChoice = { days: 90 };
const DEFAULT_APPROVE_TIMEOUT_MS = 300_000;

/** One open device; see the module comment. */
export class QuintetDevice {
  readonly #store: DeviceStore;
  readonly #platform: Platform;
  readonly #ownsStore: boolean;
  readonly #reconnector: Reconnector;
  readonly #schedule: Scheduler;
  readonly #stream = new EventStream<QuintetEvent>();
  readonly #done: Promise<StopReason>;
  readonly #ready: Promise<void>;
  /** Rejects with `closed` when the device closes; raced against every call. */
  readonly #closedSignal: Promise<never>;
  #rejectClosed: (error: ClientError) => void = () => undefined;
  #closing: Promise<void> | undefined;
  #account: LocalAccount | undefined;
  /** Woken whenever the connection state changes. */
  readonly #waiters = new Set<() => void>();
  #stopped: { reason: StopReason; error: unknown } | undefined;
  /** The event pump; ends after the last event was forwarded. */
  #pumped: Promise<void> = Promise.resolve();

  /**
   * Every event from `open` on, for one consumer: iterate it once
   * (`for await (const event of device.events)`). It ends after `close()`
   * or when the device stops for good (a `connection`/`stopped` event comes
   * last). A second consumer uses `subscribe()`.
   */
  readonly events: AsyncIterable<QuintetEvent>;
  /** Replies, reactions, edits, deletes and timers (sdk/chat.ts). */
  readonly chat: DeviceChat;

  private constructor(options: OpenOptions, servers: readonly string[]) {
    this.#store = options.store;
    this.#platform = options.platform;
    this.#ownsStore = options.ownsStore ?? true;
    this.events = this.#stream.subscribe();
    this.chat = new DeviceChat((body) => this.#withClient(body));
    this.#closedSignal = new Promise<never>((_resolve, reject) => {
      this.#rejectClosed = reject;
    });
    // Raced against calls only; on its own it is expected to reject unobserved.
    void this.#closedSignal.catch(() => undefined);
    const platform = options.platform;
    // One timer for everything the device waits on: connections, backoff,
    // keep-alive, rate limits and blob retries.
    const schedule = options.schedule ?? platformScheduler;
    this.#schedule = schedule;
    this.#reconnector = new Reconnector({
      ctx: platform.ctx,
      store: options.store,
      servers,
      connect: (server) => platform.connect(server ?? servers[0] ?? '', schedule),
      receive: options.receive ?? true,
      history: (server, client) =>
        platform.services(server ?? servers[0] ?? '', () => client().getBlobCredential(), schedule),
      keepAliveMs: platform.keepAliveMs,
      failFast: options.failFast ?? false,
      ...(options.chatRules === undefined ? {} : { chatRules: options.chatRules }),
      ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      schedule,
    });
    const events = this.#reconnector.events();
    this.#done = this.#reconnector.start();
    this.#ready = this.#waitReady();
    void this.#ready.catch(() => undefined);
    this.#pumped = this.#pump(events);
  }

  /**
   * Opens the device in `options.store` and starts connecting in the
   * background; returns at once. Await `ready()` for the first connection.
   * Throws `ClientError('not-registered')` for an empty store and
   * `LinkingError('logged-out')` for a device that was logged out.
   *
   * @example
   * const device = await QuintetDevice.open({ store, platform: nodePlatform });
   * await device.ready();
   */
  static async open(options: OpenOptions): Promise<QuintetDevice> {
    const account = await options.store.account.getRequired();
    if (account.loggedOut !== undefined) {
      throw new LinkingError(
        'logged-out',
        `this device was logged out (${account.loggedOut.reason})`,
      );
    }
    const servers = serverList(options.servers ?? account.serverUrl);
    const device = new QuintetDevice(options, servers);
    device.#account = account;
    return device;
  }

  /**
   * Resolves once the device is connected and authenticated the first time.
   * Rejects with the reason when it stopped before that (a refused login —
   * e.g. `ClientError('server-error')` with `serverCode: 'device-removed'`
   * for a removed device —, or with `failFast` the first attempt failing),
   * and with `ClientError('closed')` after `close()`.
   */
  async ready(): Promise<void> {
    await this.#ready;
  }

  /** This device's account name. */
  get account(): AccountName {
    return this.#local().account as AccountName;
  }

  /** This device's id in its account (1: the primary). */
  get deviceId(): DeviceId {
    return this.#local().deviceId as DeviceId;
  }

  /** Whether this device is its account's primary (holds the account key). */
  get isPrimary(): boolean {
    return isPrimaryAccount(this.#local());
  }

  /** The device's store (messages, settings); closed by `close()`. */
  get store(): DeviceStore {
    return this.#store;
  }

  /** The URL of the current (or next) connection. */
  get server(): string {
    return this.#reconnector.server ?? '';
  }

  /**
   * The client core of the current connection (undefined while connecting),
   * for what the device API does not wrap. Prefer the device's own methods:
   * they wait for a connection and survive reconnects.
   */
  get client(): QuintetClient | undefined {
    return this.#reconnector.client;
  }

  /** Server calls outside the client on the current connection (undefined while connecting). */
  get api(): ServerApi | undefined {
    return this.#reconnector.api;
  }

  /** Why the device stopped for good, once it has (undefined while running). */
  get stopReason(): StopReason | undefined {
    return this.#stopped?.reason;
  }

  /** Resolves with the reason once the device stopped for good. */
  async done(): Promise<StopReason> {
    return this.#done;
  }

  /** Another subscription to the device's events, from now on (for a second consumer). */
  subscribe(): AsyncIterable<QuintetEvent> {
    return this.#stream.subscribe();
  }

  /** Skips the current backoff wait (e.g. the network came back). */
  wake(): void {
    this.#reconnector.wake();
  }

  /**
   * Sends `text` to every verified device of `to`, and a copy to this
   * account's other devices. Survives a lost connection: a send cut off is
   * sent again on the next one under the same message id (shown once).
   *
   * @example
   * const sent = await device.sendText(parseAccountName('bob'), 'hello');
   */
  async sendText(
    to: AccountName,
    text: string,
    options: { attachment?: Attachment } = {},
  ): Promise<SentText> {
    return this.#call(() => this.#reconnector.sendText(to, text, options.attachment));
  }

  /**
   * Marks messages of `chat` (an account name or a group id) read: read
   * receipts to their sender, a read sync to this account's other devices.
   * (Delivery receipts are sent by the SDK itself, on receipt.)
   */
  async markRead(chat: AccountName | string, messageIds: readonly Uint8Array[]): Promise<void> {
    return this.#withClient((client) => client.markRead(chat, messageIds));
  }

  /**
   * Encrypts and uploads a file to the server's blob store; put the result
   * into `sendText`'s `attachment` (or a group send). `source` streams the
   * bytes (Node: a file stream; browser: `File.stream()`).
   */
  async uploadAttachment(
    source: AttachmentSource,
    onProgress?: TransferProgress,
  ): Promise<Attachment> {
    return this.#withClient((client) =>
      uploadAttachment(this.#platform.ctx.crypto, this.#blobs(client), source, onProgress),
    );
  }

  /** Downloads, decrypts and verifies a received attachment into `sink`. */
  async downloadAttachment(
    attachment: Attachment,
    sink: AttachmentSink,
    onProgress?: TransferProgress,
  ): Promise<void> {
    return this.#withClient((client) =>
      downloadAttachment(
        this.#platform.ctx.crypto,
        this.#blobs(client),
        attachment,
        sink,
        onProgress,
      ),
    );
  }

  /**
   * Groups: `create`, `add`, `remove`, `leave`, `send`, `list`,
   * `receiptStatus` (docs/groups.md), on the current connection.
   *
   * @example
   * const group = await device.groups((g) => g.create('team', ['bob', 'carol']));
   * await device.groups((g) => g.send(group.groupId, 'hi all'));
   */
  async groups<T>(body: (groups: QuintetClient['groups']) => Promise<T>): Promise<T> {
    return this.#withClient((client) => body(client.groups));
  }

  /** The safety number with `account` (compare it out of band, then `trust`). */
  async safetyNumber(account: AccountName): Promise<Fingerprint> {
    return this.#withClient((client) => client.safetyNumber(account));
  }

  /**
   * Accepts `account`'s current account key after the user compared the
   * safety number (needed after an `account-key-changed` event); with
   * `verified`, marks it verified.
   */
  async trust(account: AccountName, options: { verified?: boolean } = {}): Promise<void> {
    await this.#withClient((client) => client.trust(account, options));
  }

  /**
   * The devices of this account, primary first. On the primary it first
   * re-signs the device list without companions that logged themselves
   * out, so senders drop them too (`prune: false` skips that; see
   * `pruneDeviceList`).
   */
  async listDevices(options: { prune?: boolean } = {}): Promise<DeviceSummary[]> {
    if (options.prune !== false && this.isPrimary) await this.pruneDeviceList();
    return this.#withApi((api) => listOwnDevices(this.#store, api));
  }

  /**
   * Primary only: drops from the signed device list every companion the
   * server no longer serves (one that logged itself out) and publishes the
   * new list. Resolves with whether a new list was published.
   */
  async pruneDeviceList(): Promise<boolean> {
    this.#requirePrimary();
    return this.#withApi((api) => pruneOwnDeviceList(this.#platform.ctx, this.#store, api));
  }

  /**
   * Primary only: logs the companion `deviceId` out remotely and re-signs
   * the device list without it. `authorize` is the local-auth step.
   */
  async removeDevice(deviceId: DeviceId, authorize: () => Promise<void>): Promise<void> {
    this.#requirePrimary();
    await authorize();
    await this.#withApi((api) => removeCompanion(this.#platform.ctx, this.#store, api, deviceId));
  }

  /**
   * Primary only: links the companion showing `linkCode` (`quintet://link#…`),
   * then sends it account state and the chosen history. The local-auth step
   * runs first: a refusal links nothing. A failed history send does not undo
   * the approval (it is reported in the result).
   */
  async approve(linkCode: string, options: ApproveOptions): Promise<ApproveResult> {
    this.#requirePrimary();
    await options.authorize();
    const code = decodeLinkCode(linkCode.trim());
    const approved = await this.#withApi((api) =>
      approveCompanion(this.#platform.ctx, this.#store, api, code),
    );
    options.onApproved?.(approved);
    try {
      const history = await this.#withClient((client) =>
        client.sendHistory(approved.deviceId, options.history ?? DEFAULT_APPROVE_HISTORY, {
          timeoutMs: options.timeoutMs ?? DEFAULT_APPROVE_TIMEOUT_MS,
          ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
        }),
      );
      return { ...approved, history };
    } catch (error) {
      if (ClientError.is(error, 'closed')) throw error;
      return { ...approved, history: undefined, historyError: error };
    }
  }

  /**
   * A companion logs itself out on the server (the primary cannot: it holds
   * the account key). The caller deletes the store afterwards.
   */
  async logout(): Promise<void> {
    await this.#withApi((api) => logoutCompanion(this.#store, api));
  }

  /** Resolves when every envelope received so far has been processed. */
  async idle(): Promise<void> {
    await this.#withClient((client) => client.idle());
  }

  /**
   * Stops the device: closes the connection (after the envelopes in hand are
   * stored and acked), ends `events`, and closes the store (unless opened
   * with `ownsStore: false`). Idempotent; every
   * pending or later call rejects with `ClientError('closed')`.
   */
  async close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#rejectClosed(new ClientError('closed', 'the device was closed'));
    this.#wakeWaiters();
    try {
      await this.#reconnector.stop();
      // The pump forwards the final `stopped` event, then ends `events`.
      await this.#pumped;
    } finally {
      this.#stream.close();
      if (this.#ownsStore) await this.#store.close();
    }
  }

  #local(): LocalAccount {
    if (this.#account === undefined) throw new ClientError('not-registered', 'no account');
    return this.#account;
  }

  #requirePrimary(): void {
    if (!this.isPrimary) {
      throw new LinkingError('not-primary', 'only the primary device can manage devices');
    }
  }

  /** The blob store of the current server, with a credential from `client`'s connection. */
  #blobs(client: QuintetClient): BlobClient {
    return new BlobClient(
      this.server,
      cachedBlobCredential(() => client.getBlobCredential()),
      undefined,
      this.#schedule,
    );
  }

  /** Runs `body` unless closed; a close while it runs rejects it with `closed`. */
  async #call<T>(body: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) throw new ClientError('closed', 'the device was closed');
    try {
      return await Promise.race([body(), this.#closedSignal]);
    } catch (error) {
      if (this.#closing !== undefined && !ClientError.is(error, 'closed')) {
        throw new ClientError('closed', 'the device was closed', { cause: error });
      }
      throw error;
    }
  }

  /** Runs `body` on the online client, waiting for one. */
  async #withClient<T>(body: (client: QuintetClient) => Promise<T>): Promise<T> {
    return this.#call(async () => body(await this.#online()));
  }

  /** Runs `body` with the online connection's server API. */
  async #withApi<T>(body: (api: ServerApi) => Promise<T>): Promise<T> {
    return this.#call(async () => {
      await this.#online();
      const api = this.#reconnector.api;
      if (api === undefined) throw new ClientError('transport-closed', 'the connection dropped');
      return body(api);
    });
  }

  /** The online client; waits while connecting; rejects once stopped or closed. */
  async #online(): Promise<QuintetClient> {
    for (;;) {
      if (this.#closing !== undefined) throw new ClientError('closed', 'the device was closed');
      if (this.#stopped !== undefined) throw this.#stoppedError();
      const client = this.#reconnector.client;
      if (client !== undefined) return client;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  #stoppedError(): unknown {
    const stopped = this.#stopped;
    if (stopped === undefined || stopped.reason === 'stopped') {
      return new ClientError('closed', 'the device was closed');
    }
    if (stopped.error !== undefined) return stopped.error;
    return new ClientError('closed', `the device stopped (${stopped.reason})`);
  }

  async #waitReady(): Promise<void> {
    await this.#online();
  }

  #wakeWaiters(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Forwards the reconnector's events and tracks the connection state. */
  async #pump(events: AsyncIterable<QuintetEvent>): Promise<void> {
    for await (const event of events) {
      if (event.type === 'connection' && event.state === 'stopped') {
        this.#stopped = { reason: event.reason, error: event.error };
      }
      this.#stream.emit(event);
      if (event.type === 'connection') this.#wakeWaiters();
    }
    this.#stopped ??= { reason: 'stopped', error: undefined };
    this.#wakeWaiters();
    // A device that stopped by itself (logged out, replaced) ends its events
    // too; `close()` still closes the store.
    this.#stream.close();
  }
}
