/**
 * Pairwise delivery of this device's sender key: for each member device
 * that lacks it, a `SenderKeyDistribution` content encrypted over the
 * pairwise session (built from a prekey bundle on first contact), grouped
 * into one `SendMessageRequest` per account so the server can queue them
 * ahead of the group ciphertext.
 *
 * Bundles are fetched once per account (device 0 = all devices) when every
 * device of it needs one, so a first send to a 1024-member group costs one
 * bundle request per account, not per device; the fetch runs with no
 * session queue held (session-ops.ts, `encryptForDevices`). A device whose bundle or session key
 * is not the key ADV verified for it gets nothing (`untrusted-identity`) —
 * the server could otherwise slip its own key in and read the sender key.
 */
import type { ProtocolContext } from '../../../protocol/context.js';
import { encodeContent } from '../content.js';
import type { KeyedQueue } from '../keyed-queue.js';
import type { OutgoingEnvelopeInit, ServerApi } from '../server-api.js';
import { encryptForDevices } from '../session-ops.js';
import type { DeviceStore } from '../store/device-store.js';
import type { DistributionInit } from './group-api.js';
import { groupIdToBytes, type GroupId } from './group-id.js';
import type { MemberDevice } from './sender-key-tracker.js';

/** The distributions of one account. */
export interface AccountDistribution {
  readonly request: DistributionInit;
  /** The devices that got an envelope (they hold the key once the server accepts). */
  readonly delivered: readonly MemberDevice[];
  /**
   * Devices left out, with why: 'downgrade-refused' when the session with
   * the device is post-quantum and its bundle had no KEM prekey, else
   * 'untrusted-identity' (no usable session or key, see below).
   */
  readonly refused: ReadonlyArray<MemberDevice & { readonly reason: string }>;
  /** Rough encoded size, for chunking under the frame limit. */
  readonly bytes: number;
}

/** What building distributions needs. */
export interface DistributionContext {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly api: ServerApi;
  readonly queue: KeyedQueue;
  /** Whether new sessions use served KEM prekeys (the client's `postQuantum`). */
  readonly postQuantum?: boolean | undefined;
  /** A companion's own ADV identity, copied by the server onto prekey envelopes. */
  readonly senderDeviceIdentity: Uint8Array | undefined;
}

/** Builds the distribution request for the devices of one account. */
export async function distributeToAccount(
  env: DistributionContext,
  groupId: GroupId,
  account: string,
  devices: readonly MemberDevice[],
  distribution: Uint8Array,
  timestamp: number,
): Promise<AccountDistribution> {
  const padded = encodeContent({
    body: {
      case: 'senderKeyDistribution',
      value: { groupId: groupIdToBytes(groupId), distribution },
    },
  });
  const encrypted = await encryptForDevices(
    env,
    account,
    devices.map((device) => device.deviceId),
    padded,
  );
  const envelopes: OutgoingEnvelopeInit[] = [];
  const delivered: MemberDevice[] = [];
  const refused: Array<MemberDevice & { readonly reason: string }> = [];
  let bytes = 0;
  for (const device of devices) {
    const result = encrypted.get(device.deviceId);
    if (result?.kind === 'envelope') {
      envelopes.push(result.envelope);
      delivered.push(device);
      bytes += (result.envelope.content?.length ?? 0) + 16;
      continue;
    }
    // No usable session: the bundle was missing, bad or carried a key ADV
    // did not verify (untrusted-identity), or the session's key is no longer
    // trusted. The device is left out of this distribution (it gets the key
    // on the next send); anything else is a real fault.
    const error = result?.error;
    if (
      error !== undefined &&
      !result?.fromBundle &&
      error.code !== 'untrusted-identity' &&
      error.code !== 'no-session'
    ) {
      throw error;
    }
    const reason = error?.code === 'downgrade-refused' ? error.code : 'untrusted-identity';
    refused.push({ ...device, reason });
  }
  const request: DistributionInit = {
    destination: account,
    envelopes,
    timestamp: BigInt(timestamp),
    refusedDevices: [],
    senderDeviceIdentity: env.senderDeviceIdentity ?? new Uint8Array(0),
  };
  return { request, delivered, refused, bytes: bytes + account.length + 16 };
}
