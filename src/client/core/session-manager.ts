/**
 * Client fanout: one `Content`, encrypted once per destination device over
 * pairwise sessions that are created on demand from fetched prekey bundles.
 *
 * The server enforces the device set of every send (Signal's 409/410
 * design). When it answers `mismatched-devices` or `stale-devices`, the
 * sessions of removed or reinstalled devices are deleted, the device list is
 * fetched again and the send is retried — so the client's view of a peer's
 * devices cannot drift for longer than one send.
 *
 * Session work for an address runs on the shared per-address queue, so an
 * encryption never interleaves with a decryption for the same device.
 */
import { addressKey, protocolAddress, type ProtocolAddress } from '../../protocol/address.js';
import type { ProtocolContext } from '../../protocol/context.js';
import { EnvelopeType } from '../../gen/quintet/v1/transport_pb.js';
import type { DeviceStore } from './store/device-store.js';
import type { KeyedQueue } from './keyed-queue.js';
import type { OutgoingEnvelopeInit, ServerApi } from './server-api.js';
import { ClientError } from './errors.js';
import { encryptForDevice, startSession, deleteSession } from './session-ops.js';

/** How many times a send is rebuilt after the server rejects its device set. */
const MAX_DEVICE_SET_ATTEMPTS = 4;

/** Result of a send. */
export interface SendOutcome {
  /** The device ids an envelope went to. */
  readonly devices: readonly number[];
  /** True when no destination device was online: the message waits in queues. */
  readonly queuedOnly: boolean;
}

/** Who is sending. */
export interface LocalDevice {
  readonly account: string;
  readonly deviceId: number;
}

/** How to build envelopes: encrypted (normal) or plaintext (retry notices only). */
export type EnvelopeMode = 'encrypted' | 'plaintext';

/** Sends contents to every device of an account. */
export class SessionManager {
  /** account -> (device id -> registration id), as last fetched. */
  readonly #devices = new Map<string, Map<number, number>>();

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly api: ServerApi,
    private readonly queue: KeyedQueue,
    private readonly self: LocalDevice,
  ) {}

  /**
   * Sends `payload` to every current device of `destination` (except this
   * device when writing to the own account). `payload` is padded content for
   * `encrypted` and unpadded content for `plaintext`.
   */
  async send(
    destination: string,
    payload: Uint8Array,
    timestamp: number,
    mode: EnvelopeMode = 'encrypted',
  ): Promise<SendOutcome> {
    let lastError: unknown;
    for (let attempt = 0; attempt < MAX_DEVICE_SET_ATTEMPTS; attempt++) {
      const devices = await this.#deviceSet(destination);
      const envelopes: OutgoingEnvelopeInit[] = [];
      for (const [deviceId, registrationId] of devices) {
        const address = protocolAddress(destination, deviceId);
        if (mode === 'plaintext') {
          envelopes.push({
            deviceId,
            registrationId,
            type: EnvelopeType.PLAINTEXT,
            content: payload,
          });
        } else {
          envelopes.push(await this.#encrypt(address, payload));
        }
      }
      try {
        const result = await this.api.sendMessage(destination, envelopes, timestamp);
        return { devices: [...devices.keys()], queuedOnly: result.queuedOnly };
      } catch (error) {
        if (!(await this.#repairDeviceSet(destination, error))) throw error;
        lastError = error;
      }
    }
    throw new ClientError(
      'device-set-unsettled',
      'the destination device set kept changing; giving up',
      { cause: lastError },
    );
  }

  /**
   * Forgets the session with one device, so the next send builds a fresh one
   * from a new bundle (the sender side of a retry request).
   */
  async resetSession(address: ProtocolAddress): Promise<void> {
    await this.queue.run(addressKey(address), () => deleteSession(this.store, address));
  }

  /** Drops the cached device list of `account` (after a device-list change notice). */
  forgetDevices(account: string): void {
    this.#devices.delete(account);
  }

  async #encrypt(address: ProtocolAddress, padded: Uint8Array): Promise<OutgoingEnvelopeInit> {
    return this.queue.run(addressKey(address), async () => {
      await startSession(this.ctx, this.store, this.api, address);
      return encryptForDevice(this.ctx, this.store, address, padded);
    });
  }

  async #deviceSet(account: string): Promise<Map<number, number>> {
    const cached = this.#devices.get(account);
    if (cached !== undefined) return cached;
    const devices = new Map<number, number>();
    for (const device of await this.api.getDevices(account)) {
      if (account === this.self.account && device.deviceId === this.self.deviceId) continue;
      devices.set(device.deviceId, device.registrationId);
    }
    this.#devices.set(account, devices);
    return devices;
  }

  /** Handles a device-set refusal; false when `error` is something else. */
  async #repairDeviceSet(account: string, error: unknown): Promise<boolean> {
    if (!ClientError.is(error, 'server-error') || error.details === undefined) return false;
    let drop: readonly number[];
    if (error.serverCode === 'mismatched-devices') drop = error.details.extraDevices;
    else if (error.serverCode === 'stale-devices') drop = error.details.staleDevices;
    else return false;
    // Removed devices lose their sessions for good; reinstalled (stale) ones
    // get a new session from a fresh bundle on the next attempt.
    for (const deviceId of drop) {
      if (deviceId < 1) continue;
      await this.resetSession(protocolAddress(account, deviceId));
    }
    this.#devices.delete(account);
    return true;
  }
}
