/**
 * An authenticated connection for device management (`devices`, `logout`):
 * the profile store, a `ServerApi` and the account, without starting the
 * messaging client (no envelopes are consumed). A removed device is detected
 * here: the profile is wiped and marked, and the command fails with
 * "this device was logged out (<reason>)".
 */
import { authenticateDevice } from '../../client/core/account-setup.js';
import { ServerApi } from '../../client/core/server-api.js';
import type { DeviceStore } from '../../client/core/store/device-store.js';
import type { LocalAccount } from '../../client/core/store/records.js';
import type { WsTransport } from '../../client/transport/ws-transport.js';
import { chooseServers, connectFirst } from '../server-option.js';
import { DEFAULT_SERVER_URL, openProfileStore, profileDir } from '../profile.js';
import { nodeContext, type SessionContext } from '../session.js';
import {
  isDeviceRemovedError,
  loggedOutError,
  refuseIfLoggedOut,
  removalReason,
  wipeProfile,
} from './logged-out.js';

/** An open, authenticated management session. */
export interface AdminSession {
  readonly dir: string;
  readonly store: DeviceStore;
  readonly api: ServerApi;
  readonly account: LocalAccount;
  /** Closes the connection only (the store stays open). */
  closeTransport(): Promise<void>;
  /** Closes the connection and the store. */
  close(): Promise<void>;
}

/** Opens the profile, connects and authenticates as this device. */
export async function openAdminSession(
  options: { readonly profile?: string; readonly server?: string },
  context: SessionContext,
): Promise<AdminSession> {
  const dir = profileDir(options.profile);
  context.profile = dir;
  const store = openProfileStore(dir);
  let account: LocalAccount;
  let transport: WsTransport;
  try {
    account = await store.account.getRequired();
    refuseIfLoggedOut(account);
    const serverUrl = chooseServers(options.server, account.serverUrl, DEFAULT_SERVER_URL);
    context.server = serverUrl;
    ({ transport } = await connectFirst(serverUrl));
  } catch (error) {
    await store.close();
    throw error;
  }
  const api = new ServerApi(transport);
  try {
    await authenticateDevice(nodeContext, store, api);
  } catch (error) {
    await transport.close();
    if (isDeviceRemovedError(error)) {
      const reason = removalReason(error);
      await wipeProfile(dir, store, account, reason);
      throw loggedOutError(reason);
    }
    await store.close();
    throw error;
  }
  return {
    dir,
    store,
    api,
    account,
    closeTransport: () => transport.close(),
    async close() {
      try {
        await transport.close();
      } finally {
        await store.close();
      }
    },
  };
}
