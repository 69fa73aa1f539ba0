/**
 * Client fanout for one destination account: one `SendMessage` carrying one
 * envelope per device this device may encrypt to, over pairwise sessions
 * created on demand from fetched prekey bundles.
 *
 * The device set comes from the device directory (ADV-validated, see
 * devices/device-directory.ts), never from the server's word alone. Devices
 * that fail verification get nothing and are named in `refused_devices`, so
 * the server's device-set check still accepts the send; the user is told
 * through a `device-refused` event.
 *
 * The server enforces the device set of every send (Signal's 409/410
 * design). When it answers `mismatched-devices` or `stale-devices`, the
 * sessions of removed or reinstalled devices are deleted, the device list is
 * fetched and validated again and the send is retried — so the client's view
 * of a peer's devices cannot drift for longer than one send.
 *
 * A destination whose account key changed and was not accepted by the user
 * (devices/device-directory.ts) gets nothing: the send fails with
 * `ClientError('untrusted-identity')` before anything is encrypted.
 *
 * Session work for an address runs on the shared per-address queue, so an
 * encryption never interleaves with a decryption for the same device; the
 * devices of one send are encrypted concurrently. Network round trips (the
 * device list, prekey bundles) happen before a queue is entered, never
 * inside one (session-ops.ts, `encryptForDevices`).
 */
import { addressKey, protocolAddress, type ProtocolAddress } from '../../protocol/address.js';
import type { ProtocolContext } from '../../protocol/context.js';
import { EnvelopeType } from '../../gen/quintet/v1/transport_pb.js';
import type { DeviceDirectory } from './devices/device-directory.js';
import type { RefusedDevice } from './devices/served-devices.js';
import type { ClientEvent } from './events.js';
import type { DeviceStore } from './store/device-store.js';
import type { VerifiedDevice } from './store/verified-devices.js';
import type { KeyedQueue } from './keyed-queue.js';
import type { OutgoingEnvelopeInit, ServerApi } from './server-api.js';
import { ClientError } from './errors.js';
import type { ProtocolError } from '../../protocol/errors.js';
import type { PreKeyBundle } from '../../protocol/session-builder.js';
import {
  resetStoredSession,
  encryptForDevices,
  fetchBundles,
  type DeviceEncryption,
} from './session-ops.js';

/** How many times a send is rebuilt after the server rejects its device set. */
const MAX_DEVICE_SET_ATTEMPTS = 4;

/** Result of a send. */
export interface SendOutcome {
  /** The device ids an envelope went to. */
  readonly devices: readonly number[];
  /** Devices of the destination that got nothing because they failed verification. */
  readonly refused: readonly RefusedDevice[];
  /** True when no destination device was online: the message waits in queues. */
  readonly queuedOnly: boolean;
}

/** Who is sending. */
export interface LocalDevice {
  readonly account: string;
  readonly deviceId: number;
  /** A companion's own `ADVSignedDeviceIdentity`, sent along for prekey envelopes. */
  readonly signedDeviceIdentity?: Uint8Array | undefined;
  /** Whether new sessions use served KEM prekeys (the client's `postQuantum`). */
  readonly postQuantum?: boolean | undefined;
}

/** How to build envelopes: encrypted (normal) or plaintext (retry notices only). */
export type EnvelopeMode = 'encrypted' | 'plaintext';

/** What one destination device became in a send. */
type DeviceResult =
  | { readonly kind: 'envelope'; readonly envelope: OutgoingEnvelopeInit }
  | { readonly kind: 'refused'; readonly refused: RefusedDevice };

/** Bundles being fetched alongside a device list. */
interface Prefetch {
  readonly bundles: Promise<Map<number, PreKeyBundle | ProtocolError> | undefined>;
}

/** Sends contents to every verified device of an account. */
export class SessionManager {
  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly api: ServerApi,
    private readonly queue: KeyedQueue,
    private readonly directory: DeviceDirectory,
    private readonly emit: (event: ClientEvent) => void,
    private readonly self: LocalDevice,
  ) {}

  /**
   * Sends `payload` to every verified device of `destination` (except this
   * device when writing to the own account). `payload` is padded content for
   * `encrypted` and unpadded content for `plaintext`. Writing to the own
   * account when it has no other device sends nothing.
   */
  async send(
    destination: string,
    payload: Uint8Array,
    timestamp: number,
    mode: EnvelopeMode = 'encrypted',
    only?: number,
    /** `ephemeral`: pushed to connected devices only, never queued (typing.ts). */
    options: { readonly ephemeral?: boolean } = {},
  ): Promise<SendOutcome> {
    let lastError: unknown;
    // A peer this device has no session with at all (a first message):
    // every device will need a bundle, so they are fetched in the same
    // round trip as the device list instead of after it.
    let prefetch =
      mode === 'encrypted' && only === undefined && destination !== this.self.account
        ? await this.#prefetchBundles(destination)
        : undefined;
    for (let attempt = 0; attempt < MAX_DEVICE_SET_ATTEMPTS; attempt++) {
      const view = await this.directory.devices(destination);
      const prefetched = prefetch === undefined ? undefined : await prefetch.bundles;
      // A repaired device set fetches afresh.
      prefetch = undefined;
      if (view.pendingAccountKey !== undefined) {
        // A new account key nobody accepted yet: encrypt nothing, send
        // nothing (not even to the old devices), and say how to accept it.
        throw new ClientError(
          'untrusted-identity',
          `the account key of ${destination} changed; nothing was sent. Compare the new safety number and accept it`,
          { account: destination },
        );
      }
      const own = destination === this.self.account;
      const others = [...view.accepted.values()].filter(
        (device) => !(own && device.deviceId === this.self.deviceId),
      );
      // `only`: one device of the account gets the content (a history key
      // must reach only the companion it is for). The server wants every
      // current device accounted for, so the others are listed as skipped
      // in `refused_devices`, which queues nothing for them.
      const targets =
        only === undefined ? others : others.filter((device) => device.deviceId === only);
      if (only !== undefined && targets.length === 0) {
        throw new ClientError('invalid-argument', `device ${only} is not a verified device`);
      }
      const skipped = others.filter((device) => !targets.includes(device));
      const refused = view.refused.filter(
        (device) => !(own && device.deviceId === this.self.deviceId),
      );
      if (own && targets.length === 0) return { devices: [], refused, queuedOnly: false };
      const results = await this.#envelopes(destination, targets, payload, mode, prefetched);
      const envelopes: OutgoingEnvelopeInit[] = [];
      const refusedNow = [...refused];
      for (const result of results) {
        if (result.kind === 'envelope') envelopes.push(result.envelope);
        else refusedNow.push(result.refused);
      }
      // Every target refused (each already reported by a `device-refused`
      // event): there is nothing to deliver, and the server takes no send
      // without an envelope.
      if (envelopes.length === 0 && refusedNow.length > refused.length) {
        return { devices: [], refused: refusedNow, queuedOnly: false };
      }
      try {
        const result = await this.api.sendMessage(destination, envelopes, timestamp, {
          refusedDevices: [...refusedNow, ...skipped].map((device) => device.deviceId),
          ...(options.ephemeral === true ? { ephemeral: true } : {}),
          ...(this.self.signedDeviceIdentity === undefined
            ? {}
            : { senderDeviceIdentity: this.self.signedDeviceIdentity }),
        });
        return {
          devices: envelopes.map((envelope) => envelope.deviceId ?? 0),
          refused: refusedNow,
          queuedOnly: result.queuedOnly,
        };
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
    await this.queue.run(addressKey(address), () => resetStoredSession(this.store, address));
  }

  async #envelopes(
    account: string,
    devices: readonly VerifiedDevice[],
    payload: Uint8Array,
    mode: EnvelopeMode,
    prefetched: ReadonlyMap<number, PreKeyBundle | ProtocolError> | undefined,
  ): Promise<DeviceResult[]> {
    if (mode === 'plaintext') {
      return devices.map((device) => ({
        kind: 'envelope',
        envelope: {
          deviceId: device.deviceId,
          registrationId: device.registrationId,
          type: EnvelopeType.PLAINTEXT,
          content: payload,
        },
      }));
    }
    const env = {
      ctx: this.ctx,
      store: this.store,
      api: this.api,
      queue: this.queue,
      postQuantum: this.self.postQuantum,
    };
    const encrypted = await encryptForDevices(
      env,
      account,
      devices.map((device) => device.deviceId),
      payload,
      prefetched,
    );
    const results: DeviceResult[] = [];
    for (const device of devices) {
      results.push(await this.#deviceResult(account, device, encrypted.get(device.deviceId)));
    }
    return results;
  }

  async #deviceResult(
    account: string,
    device: VerifiedDevice,
    result: DeviceEncryption | undefined,
  ): Promise<DeviceResult> {
    if (result === undefined) {
      throw new ClientError('invalid-argument', `device ${device.deviceId} was not encrypted for`);
    }
    if (result.kind === 'envelope') return result;
    if (result.error.code === 'downgrade-refused') {
      // The peer's session is post-quantum and the served bundle has no KEM
      // prekey (stripped on the way, or this device asked for none). That
      // device gets nothing and its stored session stays as it is, so the
      // refusal repeats on each send instead of being retried in a loop;
      // the others still get the message.
      const refused = { deviceId: device.deviceId, reason: 'downgrade-refused' };
      this.emit({ type: 'device-refused', account, ...refused });
      return { kind: 'refused', refused };
    }
    // The bundle (or an old session) carries a key other than the one ADV
    // verified for this device: the server substituted it. That device
    // gets nothing; the others still get the message.
    if (result.error.code !== 'untrusted-identity') throw result.error;
    await this.resetSession(protocolAddress(account, device.deviceId));
    const refused = { deviceId: device.deviceId, reason: 'untrusted-identity' };
    this.emit({ type: 'device-refused', account, ...refused });
    return { kind: 'refused', refused };
  }

  /**
   * Starts fetching every device's bundle of `account` when no session with
   * any of its devices exists; undefined otherwise. Never rejects: a failed
   * prefetch only means the bundles are fetched after the device list.
   * The bundles are checked like any other (signature, and the identity
   * ADV verified for the device) when a session is built from them.
   */
  async #prefetchBundles(account: string): Promise<Prefetch | undefined> {
    if ((await this.store.protocol.sessions.listDeviceIds(account)).length > 0) return undefined;
    // Wrapped, so awaiting this function does not wait for the fetch.
    return {
      bundles: fetchBundles(this.api, account, 'all', true, this.self.postQuantum === true).catch(
        () => undefined,
      ),
    };
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
    this.directory.invalidate(account);
    return true;
  }
}
