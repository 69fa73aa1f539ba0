/**
 * Making a device: registering a new account (this device its primary) and
 * linking a new companion to an existing account. Both fill an empty store
 * over a short unauthenticated connection and return the details; the
 * caller then opens the device with `QuintetDevice.open`.
 */
import { registerAccount } from '../client/core/account-setup.js';
import { ClientError } from '../client/core/errors.js';
import { linkCompanion, storeLinkedDevice } from '../client/core/linking/companion.js';
import { ServerApi } from '../client/core/server-api.js';
import type { DeviceStore } from '../client/core/store/device-store.js';
import { formatServerList } from '../client/core/server-list.js';
import type { Scheduler } from '../client/core/scheduler.js';
import type { LinkEvent } from './events.js';
import { parseAccountName, type AccountName, type DeviceId } from './ids.js';
import { connectFirst, serverList, type Platform } from './platform.js';

/**
 * The store a new device goes into: an open store, or a function that opens
 * it — called only once the server accepted the device, so a failed attempt
 * (no server reachable, a refused link) leaves no store behind.
 */
export type StoreSource = DeviceStore | (() => DeviceStore | Promise<DeviceStore>);

async function emptyStore(source: StoreSource): Promise<DeviceStore> {
  const store = typeof source === 'function' ? await source() : source;
  if ((await store.account.get()) !== undefined) {
    if (typeof source === 'function') await store.close();
    throw new ClientError('already-registered', 'this store already has an account');
  }
  return store;
}

/** A device that was just made. */
export interface NewDevice {
  /** The account the device belongs to. */
  readonly account: AccountName;
  /** The device's id in it (1 for a registered primary). */
  readonly deviceId: DeviceId;
  /** The server that answered (the first reachable of the list). */
  readonly server: string;
  /** The store the device is in, open: pass it to `QuintetDevice.open`, or close it. */
  readonly store: DeviceStore;
}

/** What `registerDevice` needs. */
export interface RegisterOptions {
  /** The empty store for the new device (see `StoreSource`). */
  readonly store: StoreSource;
  /** The platform (`nodePlatform`, `browserPlatform`). */
  readonly platform: Platform;
  /** Server URLs; the whole list is stored for later failover. */
  readonly servers: string | readonly string[];
  /** The new account's name (checked: `invalid-argument` if not valid). */
  readonly account: string;
  /** The name the device list shows for this device. */
  readonly deviceName?: string;
  /** The server's registration token, if it requires one. */
  readonly registrationToken?: string | undefined;
  /** The timer of the connection's timeouts (as `OpenOptions.schedule`). */
  readonly schedule?: Scheduler;
  /**
   * Publish KEM prekeys with the registration (default true), so the first
   * sessions peers make with this device are v4 (as `OpenOptions.postQuantum`).
   */
  readonly postQuantum?: boolean;
}

/**
 * Registers a new account with this device as its primary (id 1). The
 * store (opened by the caller when a function was given) stays open. Fails
 * with `ClientError('already-registered')` when the store holds an account,
 * `ClientError('server-error')` with `serverCode: 'account-taken'` when the
 * name is in use, `connect-failed` when no server answers.
 *
 * @example
 * await registerDevice({ store, platform: nodePlatform, servers: 'http://127.0.0.1:8080', account: 'alice' });
 */
export async function registerDevice(options: RegisterOptions): Promise<NewDevice> {
  const account = parseAccountName(options.account);
  const servers = serverList(options.servers);
  if (typeof options.store !== 'function') await emptyStore(options.store);
  const { transport, server } = await connectFirst(options.platform, servers, options.schedule);
  let store: DeviceStore | undefined;
  try {
    store = await emptyStore(options.store);
    const local = await registerAccount(options.platform.ctx, store, new ServerApi(transport), {
      account,
      serverUrl: formatServerList(servers),
      ...(options.deviceName === undefined ? {} : { deviceName: options.deviceName }),
      ...(options.registrationToken === undefined
        ? {}
        : { registrationToken: options.registrationToken }),
      ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
    });
    return { account, deviceId: local.deviceId as DeviceId, server, store };
  } catch (error) {
    // A store this call opened is not handed out: close it.
    if (typeof options.store === 'function') await store?.close();
    throw error;
  } finally {
    await transport.close();
  }
}

/** What `linkDevice` needs. */
export interface LinkOptions {
  /** The empty store for the new companion (see `StoreSource`). */
  readonly store: StoreSource;
  /** The platform (`nodePlatform`, `browserPlatform`). */
  readonly platform: Platform;
  /** Server URLs; the whole list is stored for later failover. */
  readonly servers: string | readonly string[];
  /** The name the device list shows for this device. */
  readonly deviceName: string;
  /** Platform tag carried in the link code (`cli`, `web`, `bot`). */
  readonly platformTag?: string;
  /** Give up after this many ms without an approval (default 300000). */
  readonly timeoutMs?: number;
  /** Link codes to show, and the final `linked`. */
  readonly onEvent: (event: LinkEvent) => void | Promise<void>;
  /**
   * The timer of the connection's timeouts and of the waits between link
   * codes (as `OpenOptions.schedule`).
   */
  readonly schedule?: Scheduler;
  /**
   * Publish KEM prekeys with the link completion (default true), so the
   * sessions made at link time with the account's other devices are v4
   * (as `OpenOptions.postQuantum`).
   */
  readonly postQuantum?: boolean;
}

const DEFAULT_LINK_TIMEOUT_MS = 300_000;

/**
 * Links this (empty) store as a companion of an existing account: shows
 * link codes through `onEvent` until the primary approves one, verifies
 * the approval, and stores the new device. Fails with
 * `LinkingError('link-timeout')` when no approval came in time, `AdvError`
 * for an approval that does not verify (nothing is stored then).
 *
 * @example
 * await linkDevice({ store, platform: nodePlatform, servers: url, deviceName: 'bot',
 *   onEvent: (e) => { if (e.type === 'link-code') showQr(e.text); } });
 */
export async function linkDevice(options: LinkOptions): Promise<NewDevice> {
  const servers = serverList(options.servers);
  if (typeof options.store !== 'function') await emptyStore(options.store);
  const { transport, server } = await connectFirst(options.platform, servers, options.schedule);
  let linked;
  try {
    linked = await linkCompanion(options.platform.ctx, transport, {
      serverUrl: formatServerList(servers),
      deviceName: options.deviceName,
      platform: options.platformTag ?? 'sdk',
      timeoutMs: options.timeoutMs ?? DEFAULT_LINK_TIMEOUT_MS,
      ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
      ...(options.postQuantum === undefined ? {} : { postQuantum: options.postQuantum }),
      onCode: (offer) =>
        options.onEvent({ type: 'link-code', text: offer.text, expiresAt: offer.expiresAt }),
    });
  } finally {
    await transport.close();
  }
  const store = await emptyStore(options.store);
  try {
    await storeLinkedDevice(store, linked);
  } catch (error) {
    if (typeof options.store === 'function') await store.close();
    throw error;
  }
  const account = linked.account.account as AccountName;
  const deviceId = linked.account.deviceId as DeviceId;
  await options.onEvent({ type: 'linked', account, deviceId });
  return { account, deviceId, server, store };
}
