/**
 * `openSession`: one authenticated connection, without reconnecting — for a
 * one-shot job (a command that sends one message, lists devices, or reads
 * what is queued and exits). Long-running programs use `QuintetDevice.open`,
 * which reconnects and fails over. Both are built from the same pieces, so
 * there is one way to authenticate a device.
 */
import { QuintetClient } from '../client/core/client.js';
import type { ChatRules } from '../client/core/chat/chat-rules.js';
import type { ClientEvent } from '../client/core/events.js';
import { ServerApi } from '../client/core/server-api.js';
import type { DeviceStore } from '../client/core/store/device-store.js';
import type { LocalAccount } from '../client/core/store/records.js';
import { LinkingError } from '../client/core/linking/errors.js';
import { platformScheduler, sleepOn, type Scheduler } from '../client/core/scheduler.js';
import { connectFirst, serverList, type Platform } from './platform.js';

/** How to open a session. */
export interface SessionOptions {
  /** The device's store (stays open: it is the caller's). */
  readonly store: DeviceStore;
  /** The platform (`nodePlatform`, `browserPlatform`). */
  readonly platform: Platform;
  /** Server URLs; the first reachable is used. Default: the device's own list. */
  readonly servers?: string | readonly string[];
  /**
   * Process queued envelopes (default true). Off, what is queued stays on the
   * server for the next reader (a one-shot sender).
   */
  readonly receive?: boolean;
  /** The chat windows and timer unit (as `OpenOptions.chatRules`; default DEFAULT_CHAT_RULES). */
  readonly chatRules?: ChatRules;
  /** Post-quantum sessions (as `OpenOptions.postQuantum`; default true). */
  readonly postQuantum?: boolean;
  /**
   * The timer of the session's connect and request timeouts, rate-limit and
   * blob-retry waits (as `OpenOptions.schedule`; default: the platform timer).
   */
  readonly schedule?: Scheduler;
}

/** A started client on one connection. */
export interface DeviceSession {
  /** The client core's full API (sendText, groups, sendHistory, …). */
  readonly client: QuintetClient;
  /** Server calls outside the client (device lists, approvals). */
  readonly api: ServerApi;
  /** The store the session runs on. */
  readonly store: DeviceStore;
  /** The authenticated account record. */
  readonly account: LocalAccount;
  /** The client's events, from before it started (nothing queued is missed). */
  readonly events: AsyncIterable<ClientEvent>;
  /** The server connected to. */
  readonly server: string;
  /** Closes the connection (after in-flight work); the store stays open. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to the first reachable server and authenticates the device in
 * `store`. A login the server refuses rejects with its `ClientError`
 * (`serverCode: 'device-removed'` for a device that was logged out: the
 * caller wipes its keys). The store is not closed on failure: it is the
 * caller's.
 *
 * @example
 * const session = await openSession({ store, platform: nodePlatform, receive: false });
 * try { await session.client.sendText('bob', 'hi'); } finally { await session.close(); }
 */
export async function openSession(options: SessionOptions): Promise<DeviceSession> {
  const account = await options.store.account.getRequired();
  if (account.loggedOut !== undefined) {
    throw new LinkingError(
      'logged-out',
      `this device was logged out (${account.loggedOut.reason})`,
    );
  }
  const platform = options.platform;
  const servers = serverList(options.servers ?? account.serverUrl);
  const schedule = options.schedule ?? platformScheduler;
  const { transport, server } = await connectFirst(platform, servers, schedule);
  const client: QuintetClient = new QuintetClient({
    ctx: platform.ctx,
    store: options.store,
    transport,
    receive: options.receive ?? true,
    sleep: sleepOn(schedule),
    ...(options.chatRules === undefined ? {} : { chatRules: options.chatRules }),
    ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
    history: platform.services(server, () => client.getBlobCredential(), schedule),
  });
  // Subscribe before start, so envelopes queued on the server are not missed.
  const events = client.events();
  try {
    await client.start();
  } catch (error) {
    await client.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    client,
    api: new ServerApi(transport),
    store: options.store,
    account: client.account,
    events,
    server,
    close() {
      closing ??= client.close();
      return closing;
    },
  };
}
