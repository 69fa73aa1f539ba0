/**
 * `QuintetClient`: wires the core modules together for one authenticated
 * connection. It owns no protocol logic itself — sending is the outbox and
 * session manager, receiving the receiver, receipts and retries their own
 * modules — it only routes pushes (push-router.ts) and follow-ups.
 *
 * Usage: `const client = new QuintetClient(opts); const events =
 * client.events(); await client.start(); …; await client.close();`
 * (subscribe before `start` so no queued message is missed).
 */
import { TypingSender } from './typing.js';
import type { ProtocolContext } from '../../protocol/context.js';
import type { Fingerprint } from '../../protocol/fingerprint.js';
import { authenticateDevice } from './account-setup.js';
import { PreKeyRefill } from './prekey-refill.js';
import { BackgroundTasks } from './background.js';
import { sameBytes } from './bytes.js';
import { ClientError } from './errors.js';
import { EventStream } from './event-stream.js';
import { errorCode, type ClientEvent } from './events.js';
import { KeyedQueue } from './keyed-queue.js';
import { Outbox, type PreparedText, type SentText } from './outbox.js';
import { Receipts } from './receipts.js';
import { routePush, type PushTargets } from './push-router.js';
import { Receiver } from './receiver.js';
import { platformScheduler, sleepOn } from './scheduler.js';
import { RetryManager } from './retry.js';
import {
  acceptAccountKey,
  accountSafetyNumber,
  ownAccountKey,
  type TrustDecision,
} from './devices/account-key.js';
import { DeviceDirectory } from './devices/device-directory.js';
import { ServerApi } from './server-api.js';
import { SessionManager } from './session-manager.js';
import type { AccountDevices } from './devices/device-directory.js';
import type { DeviceStore } from './store/device-store.js';
import type { LocalAccount } from './store/records.js';
import type { Attachment } from './attachments/pointer.js';
import type { Transport } from './transport.js';
import { GroupClient } from './groups/group-client.js';
import { ChatSender } from './chat/chat-sender.js';
import { DEFAULT_CHAT_RULES, type ChatRules } from './chat/chat-rules.js';
import { isGroupChat, parseGroupId } from './groups/group-id.js';
import type { HistoryChoice } from './history/archive-builder.js';
import { followHistoryOutcome } from './history/history-outcome.js';
import { HistoryImporter, type HistoryServices } from './history/importer.js';
import {
  sendHistoryToCompanion,
  type PrimaryHistoryProgress,
  type PrimaryHistoryResult,
} from './history/primary-sync.js';

/** What a client needs: environment, storage and a connection. */
export interface ClientOptions {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly transport: Transport;
  /**
   * Whether to process pushed envelopes (default true). A one-shot sender
   * (`quintet send`) turns this off: what it does not ack stays queued on
   * the server for the next `receive`, instead of being consumed unseen.
   */
  readonly receive?: boolean;
  /**
   * Waits `ms` before a rate-limited request is retried (default: a timer;
   * tests pass one that moves their fake clock, which must then also be
   * `ctx.clock`).
   */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * History sync (docs/history.md): the blob store and a compressor. A
   * companion without them still gets bootstrap state; its import waits.
   */
  readonly history?: HistoryServices;
  /** Edit and delete windows of chat events (default: 15 min, 48 h; chat/chat-rules.ts). */
  readonly chatRules?: ChatRules;
  /**
   * Post-quantum sessions (default true): keep signed Kyber1024 KEM
   * prekeys published (kem-prekeys.ts) and build v4 (PQXDH + SPQR)
   * sessions from bundles that carry one; bundles without one (a v3-only
   * device) give v3. Open sessions are kept whatever their version, so v3
   * sessions from before stay in use and only new ones are v4. `false`
   * opts out: no KEM prekey uploads and served ones are ignored, so the
   * sessions this device starts are v3 (KEM prekeys it published before
   * stay on the server until used up, so peers may still start v4 ones).
   * Incoming v4 prekey messages open whenever this device holds the KEM
   * prekey they name, i.e. once it has published some.
   */
  readonly postQuantum?: boolean;
}

/** The parts that exist once the device is authenticated. */
interface Running {
  readonly account: LocalAccount;
  readonly outbox: Outbox;
  readonly receipts: Receipts;
  readonly receiver: Receiver;
  readonly directory: DeviceDirectory;
  readonly groups: GroupClient;
  readonly importer: HistoryImporter;
  readonly chat: ChatSender;
  readonly typing: TypingSender;
  readonly pushLoop: Promise<void>;
}

/** One device's connection to its server. */
export class QuintetClient {
  readonly #ctx: ProtocolContext;
  readonly #store: DeviceStore;
  readonly #transport: Transport;
  readonly #api: ServerApi;
  readonly #events = new EventStream<ClientEvent>();
  readonly #queue = new KeyedQueue();
  readonly #background = new BackgroundTasks(this.#events);
  readonly #inFlight = new Set<Promise<void>>();
  readonly #receive: boolean;
  readonly #history: HistoryServices | undefined;
  readonly #chatRules: ChatRules;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #postQuantum: boolean;
  #running: Running | undefined;
  readonly #preKeys: PreKeyRefill;

  constructor(options: ClientOptions) {
    this.#ctx = options.ctx;
    this.#store = options.store;
    this.#transport = options.transport;
    this.#api = new ServerApi(options.transport, {
      clock: options.ctx.clock,
      ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
    });
    this.#receive = options.receive ?? true;
    this.#history = options.history;
    this.#chatRules = options.chatRules ?? DEFAULT_CHAT_RULES;
    this.#sleep = options.sleep ?? sleepOn(platformScheduler);
    this.#postQuantum = options.postQuantum ?? true;
    this.#preKeys = new PreKeyRefill({
      ctx: this.#ctx,
      store: this.#store,
      api: this.#api,
      events: this.#events,
      background: this.#background,
      postQuantum: this.#postQuantum,
    });
  }

  /**
   * A bearer token for the blob HTTP API (transport/blob-client.ts), for
   * this device; valid about an hour. Needs an authenticated connection.
   */
  async getBlobCredential(): Promise<{ token: string; expiresAt: number }> {
    this.#started();
    return this.#api.getBlobCredential();
  }

  /** A new subscription to the client's events, from now on. */
  events(): AsyncIterable<ClientEvent> {
    return this.#events.subscribe();
  }

  /** The authenticated account (after `start`). */
  get account(): LocalAccount {
    return this.#started().account;
  }

  /**
   * Authenticates, starts processing pushed envelopes, and tops up prekeys
   * if the server holds too few.
   */
  async start(): Promise<void> {
    if (this.#running !== undefined) return;
    const auth = await authenticateDevice(this.#ctx, this.#store, this.#api);
    const local = auth.account;
    const self = {
      account: local.account,
      deviceId: local.deviceId,
      signedDeviceIdentity: local.signedDeviceIdentity,
      postQuantum: this.#postQuantum,
    };
    const emit = (event: ClientEvent): void => {
      this.#events.emit(event);
      // A member's device was removed: rotate this device's sender keys of
      // the groups that member is in (docs/groups.md, rotation).
      const target = this.#running?.groups;
      if (event.type === 'devices-changed' && event.removed.length > 0 && target !== undefined) {
        this.#background.spawn('group key rotation', () => target.onDevicesRemoved(event.account));
      }
    };
    const store = this.#store;
    const directory = new DeviceDirectory(this.#ctx, store, this.#api, emit, {
      account: self.account,
      deviceId: self.deviceId,
      ownAccountKey: () => ownAccountKey(store),
    });
    const sessions = new SessionManager(
      this.#ctx,
      store,
      this.#api,
      this.#queue,
      directory,
      emit,
      self,
    );
    const outbox = new Outbox(this.#ctx, store, sessions, emit, self, this.#chatRules);
    const receipts = new Receipts(outbox, store, emit, self);
    const groupClient = new GroupClient({
      ctx: this.#ctx,
      store,
      transport: this.#transport,
      api: this.#api,
      sessionQueue: this.#queue,
      directory,
      outbox,
      emit,
      self,
      chatRules: this.#chatRules,
    });
    const retries = new RetryManager(
      this.#ctx,
      store,
      outbox,
      sessions,
      this.#events,
      self,
      groupClient,
    );
    const background = this.#background;
    const importer = new HistoryImporter(this.#ctx, store, this.#history, emit);
    const receiver = new Receiver(
      this.#ctx,
      store,
      this.#api,
      this.#queue,
      this.#events,
      {
        delivered: (from, ids, groupId) =>
          background.spawn('delivery receipt', () =>
            groupId === undefined
              ? receipts.sendDelivery(from, ids)
              : groupClient.sendDelivery(from, ids, groupId),
          ),
        requestRetry: (from, device, timestamp, groupId) => {
          if (!retries.mayRequestRetry(from, device)) return false;
          background.spawn('retry request', () =>
            retries.requestRetry(from, device, timestamp, groupId),
          );
          return true;
        },
        retryRequested: (from, device, request) =>
          background.spawn('re-send', () => retries.handleRequest(from, device, request)),
        history: (outcome) =>
          followHistoryOutcome(outcome, {
            importer,
            groups: groupClient,
            events: this.#events,
            background: this.#background,
          }),
      },
      directory,
      self,
      (envelope) => groupClient.prepareEnvelope(envelope),
      this.#chatRules,
    );
    const chat = new ChatSender({
      ctx: this.#ctx,
      store,
      outbox,
      groups: groupClient,
      self,
      rules: this.#chatRules,
      emit,
    });
    this.#running = {
      account: auth.account,
      outbox,
      receipts,
      receiver,
      directory,
      groups: groupClient,
      importer,
      chat,
      typing: new TypingSender({
        ctx: this.#ctx,
        settings: store.settings,
        sessions,
        groups: groupClient,
        self,
      }),
      pushLoop: this.#pushLoop(receiver, directory),
    };
    // Messages that expired while this device was off disappear at once.
    background.spawn('expiry sweep', async () => {
      await chat.sweepExpired();
    });
    if (this.#receive) {
      // GroupChanged is not queued for offline devices: catch up now.
      background.spawn('group sync', () => groupClient.syncAll());
      // An import a restart interrupted resumes after its last batch.
      background.spawn('history import', () => importer.run());
    }
    background.spawn('sent-message pruning', async () => {
      await outbox.prune();
    });
    this.#preKeys.afterLogin({
      preKeys: auth.preKeysRemaining,
      kemPreKeys: auth.kemPreKeysRemaining,
    });
  }

  /**
   * Sends a text message to every verified device of `to`, and a copy to
   * this account's other devices. `prepared` re-sends a message whose first
   * send was cut off with its connection (see `Reconnector.sendText`).
   */
  async sendText(
    to: string,
    text: string,
    prepared?: PreparedText,
    attachment?: Attachment,
  ): Promise<SentText> {
    return this.#started().outbox.sendText(to, text, prepared, attachment);
  }

  /**
   * Marks messages of `chat` read: read receipts to every device of that
   * account, and a read sync to this account's other devices.
   */
  async markRead(chat: string, messageIds: readonly Uint8Array[]): Promise<void> {
    if (isGroupChat(chat)) {
      await this.#started().groups.markRead(parseGroupId(chat), messageIds);
      return;
    }
    await this.#started().receipts.markRead(chat, messageIds);
  }

  /**
   * The safety number with `account`: one per account pair, from both
   * account keys (refreshes the peer's device view first, so a changed key
   * is reported as an `account-key-changed` event; while the new key is not
   * accepted, the number is the new key's).
   */
  async safetyNumber(account: string): Promise<Fingerprint> {
    return accountSafetyNumber(this.#ctx, this.#store, this.#started().directory, account);
  }

  /**
   * The user's trust decision about `account`, after comparing the safety
   * number: accepts a changed account key (sending to `account` fails with
   * `untrusted-identity` until then), and with `verified` marks the key
   * verified. A contact whose old key was verified needs `verified`
   * (`verification-required` otherwise).
   */
  async trust(account: string, options: { verified?: boolean } = {}): Promise<TrustDecision> {
    const directory = this.#started().directory;
    return acceptAccountKey(this.#ctx, this.#store, directory, account, options.verified === true);
  }

  /**
   * The stored trust state of `account` (no network): whether a changed
   * account key waits for the user's acceptance, and whether the pinned key
   * is marked verified.
   */
  async trustState(account: string): Promise<{ pending: boolean; verified: boolean }> {
    const trust = await this.#store.accountTrust.get(account);
    const pinned = await this.#store.verifiedDevices.getAccount(account);
    const verified =
      trust?.verifiedKey !== undefined &&
      pinned !== undefined &&
      sameBytes(trust.verifiedKey, pinned.accountKey);
    return { pending: trust?.pendingKey !== undefined, verified };
  }

  /**
   * The verified devices of `account` (refetched and validated now), and the
   * served devices that failed verification.
   */
  async verifiedDevices(account: string): Promise<AccountDevices> {
    return this.#started().directory.refresh(account);
  }

  /**
   * Groups: create, add, remove, leave, send, list, receipts (see
   * groups/group-client.ts and docs/groups.md).
   */
  get groups(): GroupClient {
    return this.#started().groups;
  }

  /**
   * Chat state: replies, reactions, edits, deletes, the disappearing timer
   * and the expiry sweep (chat/chat-sender.ts, docs/protocol.md "Chat events").
   */
  get chat(): ChatSender {
    return this.#started().chat;
  }

  /** Typing indicators: send, and the device setting (typing.ts, docs/protocol.md). */
  get typing(): TypingSender {
    return this.#started().typing;
  }

  /**
   * The primary, after approving `deviceId`: waits for it to complete its
   * link, sends it bootstrap state and, unless `choice` is `none`, the
   * history archive (docs/history.md).
   */
  async sendHistory(
    deviceId: number,
    choice: HistoryChoice,
    options: { timeoutMs?: number; onProgress?: (progress: PrimaryHistoryProgress) => void } = {},
  ): Promise<PrimaryHistoryResult> {
    const running = this.#started();
    return sendHistoryToCompanion(
      {
        ctx: this.#ctx,
        store: this.#store,
        directory: running.directory,
        outbox: running.outbox,
        self: running.account.account,
        services: this.#history,
        sleep: this.#sleep,
      },
      deviceId,
      choice,
      options,
    );
  }

  /** Resumes (or retries) a recorded history import; resolves when it ends. */
  async resumeHistoryImport(): Promise<void> {
    await this.#started().importer.run();
  }

  /** Resolves when every envelope received so far and every follow-up has finished. */
  async idle(): Promise<void> {
    for (;;) {
      await Promise.all([...this.#inFlight]);
      await this.#queue.idle();
      await this.#background.idle();
      if (this.#inFlight.size === 0) return;
    }
  }

  /** Waits for in-flight work, closes the connection and ends the event streams. */
  async close(): Promise<void> {
    const running = this.#running;
    if (running !== undefined) await this.idle();
    await this.#transport.close();
    if (running !== undefined) await running.pushLoop;
    this.#events.close();
  }

  #started(): Running {
    if (this.#running === undefined) throw new ClientError('closed', 'the client is not started');
    return this.#running;
  }

  async #pushLoop(receiver: Receiver, directory: DeviceDirectory): Promise<void> {
    const targets: PushTargets = {
      receive: this.#receive,
      receiver,
      directory,
      groups: () => this.#running?.groups,
      ownAccount: () => this.account.account,
      inFlight: this.#inFlight,
      queue: this.#queue,
      background: this.#background,
      events: this.#events,
      refillPreKeys: () => this.#preKeys.refill(),
    };
    try {
      for await (const push of this.#transport.pushes) routePush(push, targets);
    } catch (error) {
      this.#events.emit({ type: 'error', code: errorCode(error), message: 'connection failed' });
    }
    await this.idle();
    this.#events.emit({ type: 'disconnected', closeCode: this.#transport.closeCode });
  }
}
