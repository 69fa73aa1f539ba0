/**
 * The device-management steps the devices pane triggers, over the running
 * connection: listing, approving a companion and logging one out (primary
 * only, PIN first), and a companion logging itself out. The PIN gate comes
 * before anything is decoded or signed, so a wrong PIN links nothing and
 * every wrong guess counts towards the lockout.
 */
import {
  listOwnDevices,
  logoutCompanion,
  pruneOwnDeviceList,
  removeCompanion,
  type DeviceSummary,
} from '../../src/client/core/device-admin.js';
import { ClientError } from '../../src/client/core/errors.js';
import { approveCompanion, type ApprovedCompanion } from '../../src/client/core/linking/approve.js';
import { LinkingError } from '../../src/client/core/linking/errors.js';
import type { ServerApi } from '../../src/client/core/server-api.js';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import { isPrimaryAccount } from '../../src/client/core/store/records.js';
import { decodeLinkCode } from '../../src/protocol/adv/index.js';
import { pinGate } from './pin.js';
import { browserContext } from './profile.js';

/** Device management for one profile; `api` is the running connection's, when online. */
export class DeviceActions {
  constructor(
    private readonly store: DeviceStore,
    private readonly api: () => ServerApi | undefined,
  ) {}

  #online(): ServerApi {
    const api = this.api();
    if (api === undefined) throw new ClientError('transport-closed', 'not connected');
    return api;
  }

  /** The account's devices, as the server lists them. */
  async list(): Promise<DeviceSummary[]> {
    return listOwnDevices(this.store, this.#online());
  }

  /**
   * Primary only, after the server reported own devices gone (a companion
   * that logged itself out): re-signs the device list without them, so
   * senders drop them too. Not run on a plain listing: a companion approved
   * a moment ago is not served until it completed its link, and pruning
   * then would drop it from the list it was just added to.
   */
  async pruneRemoved(): Promise<boolean> {
    const account = await this.store.account.getRequired();
    if (!isPrimaryAccount(account)) return false;
    return pruneOwnDeviceList(browserContext, this.store, this.#online());
  }

  /** PIN, then the link code, then the approval. */
  async approve(codeText: string, pin: string): Promise<ApprovedCompanion> {
    const api = this.#online();
    await this.#authorize(pin);
    const code = decodeLinkCode(codeText);
    return approveCompanion(browserContext, this.store, api, code);
  }

  /** PIN, then the remote logout of companion `deviceId`. */
  async remove(deviceId: number, pin: string): Promise<void> {
    const api = this.#online();
    await this.#authorize(pin);
    await removeCompanion(browserContext, this.store, api, deviceId);
  }

  /** A companion removes itself from the account (the caller wipes it afterwards). */
  async logoutSelf(): Promise<void> {
    await logoutCompanion(this.store, this.#online());
  }

  /** A companion has no PIN: it is refused before it is asked to guess one. */
  async #authorize(pin: string): Promise<void> {
    const account = await this.store.account.getRequired();
    if (!isPrimaryAccount(account)) {
      throw new LinkingError('not-primary', 'only the primary device can manage devices');
    }
    await pinGate(this.store.settings).authorize(pin);
  }
}
