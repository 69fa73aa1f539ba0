/**
 * Opening what a client command needs, through the SDK (src/sdk): the
 * profile store, then a one-shot session (`openSession`) or a reconnecting
 * device (`QuintetDevice`). This module only adds the CLI's part: which
 * profile and servers, and wiping a profile whose device was removed.
 */
import {
  nodeContext,
  nodePlatform,
  openSession,
  parseServerList,
  postQuantumEnabled,
  QuintetDevice,
  type ChatRules,
  type ClientEvent,
  type DeviceStore,
  type LocalAccount,
  type QuintetClient,
  type QuintetEvent,
  type StopReason,
} from '../sdk/index.js';
import { chatRulesFromEnv } from './chat-rules-env.js';
import { DEFAULT_SERVER_URL, openProfileStore, profileDir } from './profile.js';
import { chooseServers } from './server-option.js';
import {
  isDeviceRemovedError,
  loggedOutError,
  refuseIfLoggedOut,
  removalReason,
  wipeProfile,
} from './commands/logged-out.js';

/** The real environment (the SDK's Node context). */
export { nodeContext };

/** Options shared by every client command. */
export interface ClientCommandOptions {
  readonly profile?: string;
  readonly server?: string;
}

/** A started client on an open profile. */
export interface ClientSession {
  readonly client: QuintetClient;
  readonly store: DeviceStore;
  readonly events: AsyncIterable<ClientEvent>;
  /** The server connected to (the first reachable one of a list). */
  readonly serverUrl: string;
  close(): Promise<void>;
}

/** Where a command's context is recorded for error messages. */
export interface SessionContext {
  profile?: string;
  server?: string;
}

/**
 * `postQuantum` from the profile's setting (`quintet settings
 * post-quantum`): `false` when the profile opted out; left out otherwise,
 * so the SDK's default (on) applies.
 */
async function postQuantumOption(store: DeviceStore): Promise<{ postQuantum?: false }> {
  return (await postQuantumEnabled(store.settings)) ? {} : { postQuantum: false };
}

/**
 * The chat windows and timer unit from the environment (chat-rules-env.ts),
 * as an open option; nothing when none is set (the SDK's defaults).
 */
function rulesOption(): { chatRules?: ChatRules } {
  const chatRules = chatRulesFromEnv();
  return chatRules === undefined ? {} : { chatRules };
}

/** Opens the profile's store and records where it is for error messages. */
function openProfile(
  options: ClientCommandOptions,
  context: SessionContext,
): { dir: string; store: DeviceStore } {
  const dir = profileDir(options.profile);
  context.profile = dir;
  return { dir, store: openProfileStore(dir) };
}

/**
 * The profile's account and the server to use (`--server`, else the one it
 * registered with). A removed device says so, every time, instead of
 * failing obscurely.
 */
async function profileServer(
  store: DeviceStore,
  options: ClientCommandOptions,
  context: SessionContext,
): Promise<{ account: LocalAccount; serverUrl: string }> {
  const account = await store.account.getRequired();
  refuseIfLoggedOut(account);
  // A comma-separated list: `--server` was checked when parsed, the profile's when stored.
  const serverUrl = chooseServers(options.server, account.serverUrl, DEFAULT_SERVER_URL);
  context.server = serverUrl;
  return { account, serverUrl };
}

/** An authenticated one-shot session on an open profile (src/sdk/session.ts). */
export interface ProfileSession extends ClientSession {
  readonly dir: string;
  readonly account: LocalAccount;
  readonly api: NonNullable<QuintetDevice['api']>;
  /** Closes the connection only (the store stays open). */
  closeTransport(): Promise<void>;
}

/**
 * Opens the profile, connects to its server (or `--server`) and
 * authenticates. `receive: false` leaves queued envelopes on the server.
 * A device the server removed is wiped here and reported in one line.
 */
export async function openClientSession(
  options: ClientCommandOptions,
  receive: boolean,
  context: SessionContext,
): Promise<ProfileSession> {
  const { dir, store } = openProfile(options, context);
  let account: LocalAccount | undefined;
  try {
    const chosen = await profileServer(store, options, context);
    account = chosen.account;
    const session = await openSession({
      store,
      platform: nodePlatform,
      servers: chosen.serverUrl,
      receive,
      ...rulesOption(),
      ...(await postQuantumOption(store)),
    });
    return {
      dir,
      account: session.account,
      client: session.client,
      api: session.api,
      store,
      events: session.events,
      serverUrl: session.server,
      closeTransport: () => session.close(),
      async close() {
        try {
          await session.close();
        } finally {
          await store.close();
        }
      },
    };
  } catch (error) {
    await store.close();
    if (isDeviceRemovedError(error) && account !== undefined) {
      const reason = removalReason(error);
      await wipeProfile(dir, undefined, account, reason);
      throw loggedOutError(reason);
    }
    throw error;
  }
}

/**
 * Opens the profile as a `QuintetDevice` and waits for its first
 * connection (failing fast when no server answers). A device the server
 * removed is wiped here and reported in one line.
 */
export async function openProfileDevice(
  options: ClientCommandOptions,
  context: SessionContext,
  receive: boolean,
): Promise<QuintetDevice> {
  const { dir, store } = openProfile(options, context);
  let account: LocalAccount | undefined;
  let device: QuintetDevice | undefined;
  try {
    const chosen = await profileServer(store, options, context);
    account = chosen.account;
    device = await QuintetDevice.open({
      store,
      platform: nodePlatform,
      servers: chosen.serverUrl,
      receive,
      failFast: true,
      ...rulesOption(),
      ...(await postQuantumOption(store)),
    });
    await device.ready();
    return device;
  } catch (error) {
    // Closing the device closes the store; wiping reopens the profile.
    if (device !== undefined) await device.close();
    else await store.close();
    if (isDeviceRemovedError(error) && account !== undefined) {
      const reason = removalReason(error);
      await wipeProfile(dir, undefined, account, reason);
      throw loggedOutError(reason);
    }
    throw error;
  }
}

/** A reconnecting device (`receive --follow`) on an open profile. */
export interface FollowSession {
  readonly device: QuintetDevice;
  readonly store: DeviceStore;
  /** Every client's events plus the connection's state changes. */
  readonly events: AsyncIterable<QuintetEvent>;
  /** Resolves once the device stopped for good. */
  readonly done: Promise<StopReason>;
  close(): Promise<void>;
}

/**
 * Opens the profile as a `QuintetDevice`: a connection that survives server
 * restarts and dropped connections. The first attempt fails fast, so an
 * unreachable server is reported at once as with every other command; after
 * that the connection is retried with backoff until the server replaces or
 * logs out this device, or `close()`.
 */
export async function openFollowSession(
  options: ClientCommandOptions,
  context: SessionContext,
): Promise<FollowSession> {
  const { store } = openProfile(options, context);
  let device: QuintetDevice;
  try {
    const { serverUrl } = await profileServer(store, options, context);
    device = await QuintetDevice.open({
      store,
      platform: nodePlatform,
      servers: parseServerList(serverUrl),
      failFast: true,
      ...rulesOption(),
      ...(await postQuantumOption(store)),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    device,
    store,
    events: device.events,
    done: device.done(),
    close: () => device.close(),
  };
}
