/**
 * Sending one group message (Sender Keys, server fanout).
 *
 * The client uploads the ciphertext once; the server queues it for every
 * recipient device. Before anything is queued, `recipients` ∪ `refused`
 * must be exactly every current device of every member (minus the sending
 * device), with current registration ids — else `mismatched-devices` /
 * `stale-devices` with the mismatch of each account in `account_mismatches`,
 * the group form of the 1:1 rule that keeps client device lists from
 * drifting. Refused devices (the sender's ADV or chain checks failed) get
 * nothing.
 *
 * `distributions` are pairwise sends (the sender key for devices that lack
 * it). Each may address only recipient devices — a subset, since devices
 * that already hold the key need none — with their current registration
 * ids. They are queued before the ciphertext in the same all-or-nothing
 * write, so each device reads its key before the first message under it. A
 * request with an empty ciphertext carries distributions only: a client
 * splits a first send that would exceed the frame limit that way (see
 * `GROUP_SEND_CHUNK_BYTES` in src/wire/limits.ts).
 *
 * An `ephemeral` group send (typing) has a ciphertext and no distributions
 * (a sender key must arrive durably, before the messages under it), passes
 * the same recipient-set check, and is pushed to connected recipient
 * devices only, never queued (ephemeral.ts).
 */
import type {
  SendGroupMessageRequest,
  SendMessageRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import { EnvelopeType } from '../../gen/quintet/v1/transport_pb.js';
import type { AccountMismatchDetails } from '../../wire/frame.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { DeviceAddress, ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import type { NewEnvelope } from '../store/types.js';
import { storedBytes } from '../send-limits.js';
import { checkEphemeralSend, checkEphemeralSize, pushEphemeral } from '../ephemeral.js';
import { queueBounds, requireAccountName, requireDevice } from './common.js';
import { requireGroup, requireGroupId } from './groups.js';

/** Largest `sender_device_identity` copied onto envelopes (as for 1:1 sends). */
const MAX_SENDER_IDENTITY_BYTES = 4096;

/** Pairwise envelope types a distribution may carry. */
const PAIRWISE_TYPES: ReadonlySet<number> = new Set([EnvelopeType.SIGNAL, EnvelopeType.PREKEY]);

/** What differs between the envelopes of one send. */
type EnvelopeFields = Omit<
  NewEnvelope,
  'source' | 'sourceDevice' | 'serverTimestamp' | 'timestamp'
>;

/** One account's devices as named by the request: device id → registration id. */
type Named = Map<string, Map<number, number>>;

/** Most devices a group send may name in total (recipients, refused, distributions). */
export function maxGroupDevices(ctx: ServerContext): number {
  return ctx.limits.maxGroupMembers * (ctx.limits.maxCompanions + 1);
}

function collectRecipients(
  list: SendGroupMessageRequest['recipients'],
  what: string,
  into: Named,
  other: Named,
): number {
  let count = 0;
  for (const recipient of list) {
    const account = requireAccountName(recipient.account);
    // Refused devices get nothing, so their registration ids do not matter.
    if (what === 'recipients' && recipient.deviceIds.length !== recipient.registrationIds.length) {
      throw new ServiceError('malformed-request', 'device and registration ids differ in length');
    }
    const devices = into.get(account) ?? new Map<number, number>();
    into.set(account, devices);
    recipient.deviceIds.forEach((id, i) => {
      if (devices.has(id) || other.get(account)?.has(id) === true) {
        throw new ServiceError('malformed-request', `a device is named twice in ${what}`);
      }
      devices.set(id, recipient.registrationIds[i] ?? 0);
    });
    count += recipient.deviceIds.length;
  }
  return count;
}

function checkEnvelopeBytes(ctx: ServerContext, content: Uint8Array): void {
  if (content.length > ctx.limits.maxEnvelopeBytes) {
    throw new ServiceError(
      'envelope-too-large',
      `envelope content exceeds ${ctx.limits.maxEnvelopeBytes} bytes`,
    );
  }
}

/** The recipient-set rule over every member; throws with per-account details. */
async function checkRecipientSet(
  ctx: ServerContext,
  self: DeviceAddress,
  memberAccounts: readonly string[],
  recipients: Named,
  refused: Named,
): Promise<void> {
  const mismatched: AccountMismatchDetails[] = [];
  const stale: AccountMismatchDetails[] = [];
  const members = new Set(memberAccounts);
  for (const account of memberAccounts) {
    const devices = (await ctx.store.accounts.listDevices(account)) ?? [];
    const given = recipients.get(account) ?? new Map<number, number>();
    const left = refused.get(account) ?? new Map<number, number>();
    const expected = devices.filter(
      (d) => !(account === self.account && d.deviceId === self.deviceId),
    );
    const expectedIds = new Set(expected.map((d) => d.deviceId));
    const missing = expected
      .filter((d) => !given.has(d.deviceId) && !left.has(d.deviceId))
      .map((d) => d.deviceId);
    const extra = [...given.keys(), ...left.keys()]
      .filter((id) => !expectedIds.has(id))
      .sort((a, b) => a - b);
    if (missing.length > 0 || extra.length > 0) {
      mismatched.push({ account, missingDevices: missing, extraDevices: extra });
      continue;
    }
    const staleIds = expected
      .filter((d) => given.has(d.deviceId) && given.get(d.deviceId) !== d.registrationId)
      .map((d) => d.deviceId);
    if (staleIds.length > 0) stale.push({ account, staleDevices: staleIds });
  }
  // Accounts that are not members: every device named for them is extra.
  for (const named of [recipients, refused]) {
    for (const [account, devices] of named) {
      if (members.has(account) || devices.size === 0) continue;
      if (mismatched.some((m) => m.account === account)) continue;
      const extra = [
        ...(recipients.get(account)?.keys() ?? []),
        ...(refused.get(account)?.keys() ?? []),
      ];
      mismatched.push({ account, extraDevices: extra.sort((a, b) => a - b) });
    }
  }
  if (mismatched.length > 0) {
    throw new ServiceError('mismatched-devices', 'recipient devices do not match the group', {
      accountMismatches: mismatched,
    });
  }
  if (stale.length > 0) {
    throw new ServiceError('stale-devices', 'registration ids do not match', {
      accountMismatches: stale,
    });
  }
}

/**
 * Distribution envelopes: each for a recipient device (not refused, not
 * unknown) with its current registration id, at most one per device.
 */
function distributionEnvelopes(
  ctx: ServerContext,
  distributions: readonly SendMessageRequest[],
  recipients: Named,
  envelope: (fields: EnvelopeFields, timestamp: bigint) => NewEnvelope,
): NewEnvelope[] {
  const out: NewEnvelope[] = [];
  const seen = new Set<string>();
  const extra: AccountMismatchDetails[] = [];
  const stale: AccountMismatchDetails[] = [];
  for (const send of distributions) {
    const destination = requireAccountName(send.destination);
    if (send.senderDeviceIdentity.length > MAX_SENDER_IDENTITY_BYTES) {
      throw new ServiceError('malformed-request', 'sender device identity is too large');
    }
    if (send.refusedDevices.length > 0) {
      throw new ServiceError('malformed-request', 'refused devices belong in `refused`');
    }
    const current = recipients.get(destination);
    for (const e of send.envelopes) {
      if (e.content.length === 0) throw new ServiceError('malformed-request', 'empty envelope');
      checkEnvelopeBytes(ctx, e.content);
      if (!PAIRWISE_TYPES.has(e.type)) {
        throw new ServiceError('malformed-request', 'distributions are SIGNAL or PREKEY envelopes');
      }
      const key = `${destination} ${e.deviceId}`;
      if (seen.has(key))
        throw new ServiceError('malformed-request', 'two distributions for one device');
      seen.add(key);
      const registrationId = current?.get(e.deviceId);
      if (registrationId === undefined) {
        extra.push({ account: destination, extraDevices: [e.deviceId] });
        continue;
      }
      // The recipient list already matched the store, so this compares with the current id.
      if (registrationId !== e.registrationId) {
        stale.push({ account: destination, staleDevices: [e.deviceId] });
        continue;
      }
      out.push(
        envelope(
          {
            destination,
            destinationDevice: e.deviceId,
            type: e.type,
            content: e.content,
            ...(e.type === EnvelopeType.PREKEY && send.senderDeviceIdentity.length > 0
              ? { sourceDeviceIdentity: send.senderDeviceIdentity }
              : {}),
          },
          send.timestamp,
        ),
      );
    }
  }
  if (extra.length > 0) {
    throw new ServiceError('mismatched-devices', 'a distribution names a non-recipient device', {
      accountMismatches: extra,
    });
  }
  if (stale.length > 0) {
    throw new ServiceError('stale-devices', 'a distribution names a stale registration id', {
      accountMismatches: stale,
    });
  }
  return out;
}

/** Validates, queues distributions then the ciphertext durably, answers, then pushes. */
export async function handleSendGroupMessage(
  ctx: ServerContext,
  connection: ClientConnection,
  request: SendGroupMessageRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const groupId = requireGroupId(request.groupId);
  const limit = maxGroupDevices(ctx);
  checkEnvelopeBytes(ctx, request.ciphertext);
  const distributionCount = request.distributions.reduce((n, d) => n + d.envelopes.length, 0);
  if (request.ciphertext.length === 0 && distributionCount === 0) {
    throw new ServiceError('malformed-request', 'nothing to send');
  }
  if (request.ephemeral) {
    checkEphemeralSize(ctx, request.ciphertext.length);
    if (request.ciphertext.length === 0 || request.distributions.length > 0) {
      throw new ServiceError('malformed-request', 'an ephemeral group send is one ciphertext');
    }
  }
  const recipients: Named = new Map();
  const refused: Named = new Map();
  let named = collectRecipients(request.recipients, 'recipients', recipients, refused);
  named += collectRecipients(request.refused, 'refused', refused, recipients);
  if (named > limit || distributionCount > limit) {
    throw new ServiceError('too-many-envelopes', `at most ${limit} devices per group send`);
  }
  // The ciphertext is stored once however many devices it goes to; each
  // distribution and each queued row costs its own bytes.
  let contentBytes = request.ciphertext.length;
  for (const send of request.distributions) {
    for (const e of send.envelopes) contentBytes += e.content.length;
  }
  const rows = distributionCount + (request.ciphertext.length > 0 ? named : 0);
  if (request.ephemeral) checkEphemeralSend(ctx, self, [EnvelopeType.SENDER_KEY]);
  else ctx.sendLimits.charge(self.account, storedBytes(contentBytes, rows));
  // The group and device lists are read from the store before anything is
  // queued: later sends of this connection wait until this one is answered.
  connection.holdSends();
  const group = await requireGroup(ctx, groupId);
  const memberAccounts = group.members.map((m) => m.account);
  if (!memberAccounts.includes(self.account)) {
    throw new ServiceError('not-group-member', 'not a member of this group');
  }
  await checkRecipientSet(ctx, self, memberAccounts, recipients, refused);
  if (request.ephemeral) {
    const targets = [];
    for (const [account, devices] of recipients) {
      for (const deviceId of devices.keys()) {
        targets.push({
          destination: account,
          destinationDevice: deviceId,
          type: EnvelopeType.SENDER_KEY,
          content: request.ciphertext,
          groupId,
        });
      }
    }
    const timestamp = Number(request.timestamp);
    const anyHere = pushEphemeral(
      ctx,
      self,
      Number.isSafeInteger(timestamp) ? timestamp : 0,
      targets,
    );
    return { body: { case: 'sendGroupMessage', value: { queuedOnly: !anyHere } } };
  }

  const serverTimestamp = ctx.clock.now();
  const safe = (t: bigint): number => {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : 0;
  };
  const make = (fields: EnvelopeFields, timestamp: bigint): NewEnvelope => ({
    source: self.account,
    sourceDevice: self.deviceId,
    timestamp: safe(timestamp),
    serverTimestamp,
    ...fields,
  });
  // Distributions first: a device must read the key before the message.
  const fresh = distributionEnvelopes(ctx, request.distributions, recipients, make);
  if (request.ciphertext.length > 0) {
    for (const [account, devices] of recipients) {
      for (const deviceId of devices.keys()) {
        fresh.push(
          make(
            {
              destination: account,
              destinationDevice: deviceId,
              type: EnvelopeType.SENDER_KEY,
              content: request.ciphertext,
              groupId,
            },
            request.timestamp,
          ),
        );
      }
    }
  }
  // The ciphertext envelopes are consecutive and share one content object,
  // so the store keeps one copy for all of them.
  const queued = fresh.length > 0 ? await ctx.store.queue.enqueue(fresh, queueBounds(ctx)) : [];
  ctx.metrics.messagesReceived += queued.length;
  for (const send of request.distributions)
    ctx.subscriptions.record(send.destination, self.account);

  // `queuedOnly` is this node's knowledge: true when no destination device
  // is connected here. In a cluster a device on another node is woken
  // through the bus and may still get the envelope live; the flag then
  // only says it was not handed over by this node.
  let anyConnected = false;
  const endpoints = queued.map((envelope) => {
    const endpoint = ctx.devices.get({
      account: envelope.destination,
      deviceId: envelope.destinationDevice,
    });
    if (endpoint !== undefined) anyConnected = true;
    return endpoint;
  });
  return {
    body: { case: 'sendGroupMessage', value: { queuedOnly: !anyConnected } },
    after: () => {
      // In array order: each device gets its distribution before the ciphertext
      // (devices on other nodes get one wake each, read from the store in order).
      queued.forEach((envelope, i) =>
        ctx.devices.deliver(
          { account: envelope.destination, deviceId: envelope.destinationDevice },
          [envelope],
          endpoints[i],
        ),
      );
    },
  };
}
