/**
 * Pairwise delivery of this device's sender key: for each member device
 * that lacks it, a `SenderKeyDistribution` content encrypted over the
 * pairwise session (built from a prekey bundle on first contact), grouped
 * into one `SendMessageRequest` per account so the server can queue them
 * ahead of the group ciphertext.
 *
 * Bundles are fetched once per account (device 0 = all devices) rather than
 * once per device, so a first send to a 1024-member group costs one bundle
 * request per account, not per device. A device whose bundle or session key
 * is not the key ADV verified for it gets nothing (`untrusted-identity`) —
 * the server could otherwise slip its own key in and read the sender key.
 */
import { addressKey, protocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { ProtocolError } from '../../../protocol/errors.js';
import { processPreKeyBundle } from '../../../protocol/session-builder.js';
import { SessionCipher } from '../../../protocol/session-cipher.js';
import { encodeContent } from '../content.js';
import type { KeyedQueue } from '../keyed-queue.js';
import type { OutgoingEnvelopeInit, ServerApi } from '../server-api.js';
import { encryptForDevice, toProtocolBundle } from '../session-ops.js';
import type { DeviceStore } from '../store/device-store.js';
import type { DistributionInit } from './group-api.js';
import { groupIdToBytes, type GroupId } from './group-id.js';
import type { MemberDevice } from './sender-key-tracker.js';

/** The distributions of one account. */
export interface AccountDistribution {
  readonly request: DistributionInit;
  /** The devices that got an envelope (they hold the key once the server accepts). */
  readonly delivered: readonly MemberDevice[];
  /** Devices left out because their key is not the verified one. */
  readonly refused: readonly MemberDevice[];
  /** Rough encoded size, for chunking under the frame limit. */
  readonly bytes: number;
}

/** What building distributions needs. */
export interface DistributionContext {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly api: ServerApi;
  readonly queue: KeyedQueue;
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
  await ensureSessions(env, account, devices);
  const envelopes: OutgoingEnvelopeInit[] = [];
  const delivered: MemberDevice[] = [];
  const refused: MemberDevice[] = [];
  let bytes = 0;
  for (const device of devices) {
    const address = protocolAddress(account, device.deviceId);
    try {
      const envelope = await env.queue.run(addressKey(address), () =>
        encryptForDevice(env.ctx, env.store, address, padded),
      );
      envelopes.push(envelope);
      delivered.push(device);
      bytes += (envelope.content?.length ?? 0) + 16;
    } catch (error) {
      if (
        !ProtocolError.is(error, 'untrusted-identity') &&
        !ProtocolError.is(error, 'no-session')
      ) {
        throw error;
      }
      refused.push(device);
    }
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

/** Opens a session with every device lacking one, from one bundle fetch per account. */
async function ensureSessions(
  env: DistributionContext,
  account: string,
  devices: readonly MemberDevice[],
): Promise<void> {
  const lacking: MemberDevice[] = [];
  for (const device of devices) {
    const cipher = new SessionCipher(
      env.ctx,
      env.store.protocol,
      protocolAddress(account, device.deviceId),
    );
    if (!(await cipher.hasOpenSession())) lacking.push(device);
  }
  if (lacking.length === 0) return;
  const bundles = await env.api.getPreKeyBundles(account, 0);
  for (const device of lacking) {
    const bundle = bundles.find((b) => b.deviceId === device.deviceId);
    // No bundle: encryptForDevice fails with no-session and the device is
    // left out of this distribution (it gets the key on the next send).
    if (bundle === undefined) continue;
    const address = protocolAddress(account, device.deviceId);
    try {
      await env.queue.run(addressKey(address), async () => {
        const cipher = new SessionCipher(env.ctx, env.store.protocol, address);
        if (await cipher.hasOpenSession()) return;
        await processPreKeyBundle(env.ctx, env.store.protocol, address, toProtocolBundle(bundle));
      });
    } catch (error) {
      // A bundle whose identity key is not the ADV-verified one: refused below.
      if (!ProtocolError.is(error)) throw error;
    }
  }
}
