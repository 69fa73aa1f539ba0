/**
 * Opening what a client command needs: the profile store, a connection to
 * the server, and (for authenticated commands) a started client. Everything
 * opened is closed by `close()`, in reverse order, even after a failure.
 */
import { nodeCrypto } from '../crypto/node.js';
import { systemClock } from '../crypto/provider.js';
import type { ProtocolContext } from '../protocol/context.js';
import { QuintetClient } from '../client/core/client.js';
import type { ClientEvent } from '../client/core/events.js';
import { Reconnector, type ReconnectorEvent, type StopReason } from '../client/core/reconnector.js';
import type { DeviceStore } from '../client/core/store/device-store.js';
import type { LocalAccount } from '../client/core/store/records.js';
import { WsTransport } from '../client/transport/ws-transport.js';
import { parseServerList } from '../client/core/server-list.js';
import { DEFAULT_SERVER_URL, openProfileStore, profileDir } from './profile.js';
import { chooseServers, connectFirst } from './server-option.js';
import {
  isDeviceRemovedError,
  loggedOutError,
  refuseIfLoggedOut,
  removalReason,
  wipeProfile,
} from './commands/logged-out.js';
import { cliHistoryServices } from './history-services.js';

/** The real environment. */
export const nodeContext: ProtocolContext = {
  crypto: nodeCrypto,
  random: (length) => nodeCrypto.randomBytes(length),
  clock: systemClock,
};

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

/**
 * Opens the profile, connects to its server (or `--server`) and
 * authenticates. `receive: false` leaves queued envelopes on the server.
 */
export async function openClientSession(
  options: ClientCommandOptions,
  receive: boolean,
  context: SessionContext,
): Promise<ClientSession> {
  const { dir, store } = openProfile(options, context);
  try {
    const { account, serverUrl: servers } = await profileServer(store, options, context);
    const { transport, server: serverUrl } = await connectFirst(servers);
    const client: QuintetClient = new QuintetClient({
      ctx: nodeContext,
      store,
      transport,
      receive,
      history: cliHistoryServices(serverUrl, () => client),
    });
    const events = client.events();
    try {
      await client.start();
    } catch (error) {
      await transport.close();
      if (isDeviceRemovedError(error)) {
        const reason = removalReason(error);
        await wipeProfile(dir, store, account, reason);
        throw loggedOutError(reason);
      }
      throw error;
    }
    return {
      client,
      store,
      events,
      serverUrl,
      async close() {
        try {
          await client.close();
        } finally {
          await store.close();
        }
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** A reconnecting client (`receive --follow`) on an open profile. */
export interface FollowSession {
  readonly reconnector: Reconnector;
  readonly store: DeviceStore;
  /** Every client's events plus the connection's state changes. */
  readonly events: AsyncIterable<ReconnectorEvent>;
  /** Resolves once the reconnector stopped for good. */
  readonly done: Promise<StopReason>;
  close(): Promise<void>;
}

/**
 * Opens the profile and starts a connection that survives server restarts
 * and dropped connections (client/core/reconnector.ts). The first attempt
 * fails fast, so an unreachable server is reported at once as with every
 * other command; after that the connection is retried with backoff until
 * the server replaces or logs out this device, or `close()`.
 */
export async function openFollowSession(
  options: ClientCommandOptions,
  context: SessionContext,
): Promise<FollowSession> {
  const { store } = openProfile(options, context);
  try {
    const { serverUrl } = await profileServer(store, options, context);
    const servers = parseServerList(serverUrl);
    const reconnector = new Reconnector({
      ctx: nodeContext,
      store,
      servers,
      connect: (server) => WsTransport.connect(server ?? serverUrl),
      history: (server, client) => cliHistoryServices(server ?? serverUrl, client),
      failFast: true,
    });
    const events = reconnector.events();
    const done = reconnector.start();
    return {
      reconnector,
      store,
      events,
      done,
      async close() {
        try {
          await reconnector.stop();
        } finally {
          await store.close();
        }
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
