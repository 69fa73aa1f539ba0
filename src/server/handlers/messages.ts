/**
 * Sending and acknowledging envelopes.
 *
 * A send must carry exactly one envelope per current device of the
 * destination (minus the sending device when writing to its own account),
 * each naming the device's current registration id. Otherwise nothing is
 * queued and the sender learns which devices are missing, extra or stale, so
 * client device lists cannot drift (Signal's 409/410 rule). Devices the
 * sender lists in `refused_devices` (current devices that failed its ADV
 * checks) count as neither missing nor extra; a refused id that is not a
 * current device counts as extra, so the sender refreshes its list.
 *
 * Success is answered only after every envelope is committed to its
 * device's durable queue (group-committed with the rest of the event-loop
 * turn); then connected devices get it pushed at once.
 *
 * An `ephemeral` send (typing) passes the same device-set check but is
 * never queued: each envelope is pushed to its device if it is connected
 * now, anywhere in the cluster, and is gone otherwise (ephemeral.ts).
 */
import type {
  AckRequest,
  OutgoingEnvelope,
  SendMessageRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import { EnvelopeType } from '../../gen/quintet/v1/transport_pb.js';
import { SERVER_GUID_LENGTH } from '../../wire/limits.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { DeviceAddress, ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import type { DeviceRecord, NewEnvelope, QueuedEnvelope } from '../store/types.js';
import { storedBytes } from '../send-limits.js';
import { checkEphemeralSend, checkEphemeralSize, pushEphemeral } from '../ephemeral.js';
import { queueBounds, requireAccountName, requireDevice } from './common.js';

/** Largest `sender_device_identity` copied onto envelopes (real ones are ~200 bytes). */
const MAX_SENDER_IDENTITY_BYTES = 4096;

const KNOWN_TYPES: ReadonlySet<number> = new Set([
  EnvelopeType.SIGNAL,
  EnvelopeType.PREKEY,
  EnvelopeType.SENDER_KEY,
  EnvelopeType.PLAINTEXT,
]);

/** The 409 error: current devices without an envelope, and ids that are not current devices. */
function mismatchedDevices(
  devices: readonly { readonly deviceId: number }[],
  skipDevice: number | undefined,
  given: ReadonlyMap<number, unknown>,
  refused: ReadonlySet<number>,
): ServiceError {
  const expected = devices.filter((d) => d.deviceId !== skipDevice);
  const missing = expected
    .filter((d) => !given.has(d.deviceId) && !refused.has(d.deviceId))
    .map((d) => d.deviceId);
  const expectedIds = new Set(expected.map((d) => d.deviceId));
  const extra = [...given.keys(), ...refused]
    .filter((id) => !expectedIds.has(id))
    .sort((a, b) => a - b);
  return new ServiceError('mismatched-devices', 'device set does not match the account', {
    missingDevices: missing,
    extraDevices: extra,
  });
}

/** No refused devices: shared, so the common send allocates no set. */
const NONE_REFUSED: ReadonlySet<number> = new Set();

/** Validates, queues durably, answers, then pushes. */
export function handleSendMessage(
  ctx: ServerContext,
  connection: ClientConnection,
  request: SendMessageRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const destination = requireAccountName(request.destination);
  const { envelopes } = request;
  if (envelopes.length === 0) throw new ServiceError('malformed-request', 'no envelopes');
  if (envelopes.length > ctx.limits.maxEnvelopesPerRequest) {
    throw new ServiceError(
      'too-many-envelopes',
      `at most ${ctx.limits.maxEnvelopesPerRequest} envelopes per send`,
    );
  }
  const given = new Map<number, (typeof envelopes)[number]>();
  for (const envelope of envelopes) {
    if (envelope.content.length > ctx.limits.maxEnvelopeBytes) {
      throw new ServiceError(
        'envelope-too-large',
        `envelope content exceeds ${ctx.limits.maxEnvelopeBytes} bytes`,
      );
    }
    if (request.ephemeral) checkEphemeralSize(ctx, envelope.content.length);
    if (envelope.content.length === 0)
      throw new ServiceError('malformed-request', 'empty envelope');
    if (!KNOWN_TYPES.has(envelope.type)) {
      throw new ServiceError('malformed-request', 'unknown envelope type');
    }
    if (given.has(envelope.deviceId)) {
      throw new ServiceError('malformed-request', 'two envelopes for one device');
    }
    given.set(envelope.deviceId, envelope);
  }
  const refused =
    request.refusedDevices.length === 0 ? NONE_REFUSED : new Set(request.refusedDevices);
  if (refused.size > ctx.limits.maxEnvelopesPerRequest) {
    throw new ServiceError('malformed-request', 'too many refused devices');
  }
  for (const id of refused) {
    if (given.has(id))
      throw new ServiceError('malformed-request', 'a refused device has an envelope');
  }
  const senderIdentity = request.senderDeviceIdentity;
  if (senderIdentity.length > MAX_SENDER_IDENTITY_BYTES) {
    throw new ServiceError('malformed-request', 'sender device identity is too large');
  }
  if (request.ephemeral) {
    // Nothing is stored, so no stored-bytes charge: the ephemeral bucket instead.
    checkEphemeralSend(
      ctx,
      self,
      envelopes.map((envelope) => envelope.type),
    );
  } else {
    let contentBytes = 0;
    for (const envelope of envelopes) contentBytes += envelope.content.length;
    ctx.sendLimits.charge(self.account, storedBytes(contentBytes, envelopes.length));
  }

  // A cached device list is checked in this same turn: no promise, no
  // microtask before the envelope joins the turn's group commit.
  const cached = ctx.store.accounts.cachedDevices?.(destination);
  if (cached !== undefined) {
    return queueSend(ctx, self, destination, request, given, refused, cached);
  }
  // Later sends of this connection wait until this one is answered, or a
  // cached one could be queued before it.
  connection.holdSends();
  return ctx.store.accounts
    .listDevices(destination)
    .then((devices) => queueSend(ctx, self, destination, request, given, refused, devices));
}

/** The device-set check against `devices`, then the durable enqueue. */
function queueSend(
  ctx: ServerContext,
  self: DeviceAddress,
  destination: string,
  request: SendMessageRequest,
  given: ReadonlyMap<number, OutgoingEnvelope>,
  refused: ReadonlySet<number>,
  devices: readonly DeviceRecord[] | undefined,
): Promise<HandlerResult> {
  if (devices === undefined) throw new ServiceError('unknown-account', 'no such account');
  const { envelopes } = request;
  const senderIdentity = request.senderDeviceIdentity;
  // One pass over the device list with no intermediate arrays: this check
  // runs on every send, and the filter/map chains showed up in profiles.
  // The error lists are only built when something is wrong.
  const ownAccount = destination === self.account;
  let matched = 0;
  let mismatch = false;
  let anyStale = false;
  for (const d of devices) {
    if (ownAccount && d.deviceId === self.deviceId) continue;
    const envelope = given.get(d.deviceId);
    if (envelope !== undefined) {
      matched += 1;
      if (envelope.registrationId !== d.registrationId) anyStale = true;
    } else if (refused.has(d.deviceId)) {
      matched += 1;
    } else {
      mismatch = true;
    }
  }
  if (mismatch || matched !== given.size + refused.size) {
    throw mismatchedDevices(devices, ownAccount ? self.deviceId : undefined, given, refused);
  }
  if (anyStale) {
    const stale = devices
      .filter((d) => !(ownAccount && d.deviceId === self.deviceId))
      .filter((d) => !refused.has(d.deviceId))
      .filter((d) => given.get(d.deviceId)?.registrationId !== d.registrationId)
      .map((d) => d.deviceId);
    throw new ServiceError('stale-devices', 'registration ids do not match', {
      staleDevices: stale,
    });
  }

  const serverTimestamp = ctx.clock.now();
  const requestTimestamp = Number(request.timestamp);
  const timestamp = Number.isSafeInteger(requestTimestamp) ? requestTimestamp : 0;
  if (request.ephemeral) {
    const anyHere = pushEphemeral(
      ctx,
      self,
      timestamp,
      envelopes.map((envelope) => ({
        destination,
        destinationDevice: envelope.deviceId,
        type: envelope.type,
        content: envelope.content,
      })),
    );
    return Promise.resolve({ body: { case: 'sendMessage', value: { queuedOnly: !anyHere } } });
  }
  const fresh: NewEnvelope[] = [];
  for (const envelope of envelopes) {
    // Two literals rather than a conditional spread: a spread builds the
    // object through a slow generic path on every send.
    // Only a session-starting envelope needs the sender's ADV identity.
    fresh.push(
      envelope.type === EnvelopeType.PREKEY && senderIdentity.length > 0
        ? {
            destination,
            destinationDevice: envelope.deviceId,
            source: self.account,
            sourceDevice: self.deviceId,
            type: envelope.type,
            content: envelope.content,
            timestamp,
            serverTimestamp,
            sourceDeviceIdentity: senderIdentity,
          }
        : {
            destination,
            destinationDevice: envelope.deviceId,
            source: self.account,
            sourceDevice: self.deviceId,
            type: envelope.type,
            content: envelope.content,
            timestamp,
            serverTimestamp,
          },
    );
  }
  return ctx.store.queue
    .enqueue(fresh, queueBounds(ctx))
    .then((queued) => sent(ctx, self, destination, queued));
}

/** After the commit: the response, and the pushes to connected devices. */
function sent(
  ctx: ServerContext,
  self: DeviceAddress,
  destination: string,
  queued: readonly QueuedEnvelope[],
): HandlerResult {
  ctx.metrics.messagesReceived += queued.length;
  ctx.subscriptions.record(destination, self.account);

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
    body: { case: 'sendMessage', value: { queuedOnly: !anyConnected } },
    after: () => {
      for (let i = 0; i < queued.length; i += 1) {
        const envelope = queued[i];
        if (envelope === undefined) continue;
        ctx.devices.deliver(
          { account: envelope.destination, deviceId: envelope.destinationDevice },
          [envelope],
          endpoints[i],
        );
      }
    },
  };
}

/** Deletes acknowledged envelopes — only ever from the calling device's own queue. */
export function handleAck(
  ctx: ServerContext,
  connection: ClientConnection,
  request: AckRequest,
): HandlerResult {
  const self = requireDevice(connection);
  if (request.serverGuids.length > ctx.limits.maxAcksPerRequest) {
    throw new ServiceError(
      'malformed-request',
      `at most ${ctx.limits.maxAcksPerRequest} guids per ack`,
    );
  }
  for (const guid of request.serverGuids) {
    if (guid.length !== SERVER_GUID_LENGTH) {
      throw new ServiceError('malformed-request', `server guids are ${SERVER_GUID_LENGTH} bytes`);
    }
  }
  // Answered without waiting for the delete to commit: the store commits it
  // with a later batch (queue reads commit it first). A delete lost in a
  // crash only means a redelivery, which clients drop by their processed
  // mark; nothing the device was told becomes untrue.
  ctx.store.queue.ack(self.account, self.deviceId, request.serverGuids).then(
    (deleted) => {
      ctx.metrics.messagesAcked += deleted;
    },
    (error: unknown) => {
      ctx.logger.error({ err: error }, 'ack delete failed; the envelopes stay queued');
    },
  );
  return { body: { case: 'ack', value: {} } };
}
