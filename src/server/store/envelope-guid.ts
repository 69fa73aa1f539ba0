/**
 * Server envelope guids, as the stores make them: the envelope's queue
 * sequence number (8 bytes, big-endian) followed by 8 random bytes.
 *
 * The sequence half lets a store find an acknowledged envelope by its
 * primary key, with no index on the guid to update on every send and every
 * ack. The random half means a guid cannot be guessed from its neighbours,
 * and a sequence number a store hands out again (after a restart, say) never
 * makes an old guid match a new envelope: stores compare whole guids.
 */
import type { RandomSource } from '../../crypto/provider.js';
import { SERVER_GUID_LENGTH } from '../../wire/limits.js';
import type { NewEnvelope, QueuedEnvelope } from './types.js';

/** The guid of the envelope stored under `sequence` (a positive safe integer). */
export function envelopeGuid(sequence: number, random: RandomSource): Uint8Array {
  // One allocation per envelope (this runs for every message): draw all
  // 16 bytes and overwrite the first 8 with the sequence number.
  return stampSequence(random(SERVER_GUID_LENGTH), sequence);
}

/** Writes `sequence` (a positive safe integer) into `guid`'s first 8 bytes, in place; returns `guid`. */
export function stampSequence(guid: Uint8Array, sequence: number): Uint8Array {
  const high = Math.floor(sequence / 2 ** 32);
  const low = sequence >>> 0;
  guid[0] = high >>> 24;
  guid[1] = (high >>> 16) & 0xff;
  guid[2] = (high >>> 8) & 0xff;
  guid[3] = high & 0xff;
  guid[4] = low >>> 24;
  guid[5] = (low >>> 16) & 0xff;
  guid[6] = (low >>> 8) & 0xff;
  guid[7] = low & 0xff;
  return guid;
}

/**
 * The sequence number a guid names, or undefined when it names none a store
 * could have made (wrong length, zero, beyond 2^53 — random guids from older
 * versions usually are).
 */
export function guidSequence(guid: Uint8Array): number | undefined {
  if (guid.length !== SERVER_GUID_LENGTH) return undefined;
  // Read by hand, as written above: no view object per acked guid.
  const high = readUint32(guid, 0);
  if (high > 0x1fffff) return undefined;
  const sequence = high * 2 ** 32 + readUint32(guid, 4);
  return sequence > 0 ? sequence : undefined;
}

function readUint32(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at] ?? 0) * 2 ** 24 +
    ((bytes[at + 1] ?? 0) << 16) +
    ((bytes[at + 2] ?? 0) << 8) +
    (bytes[at + 3] ?? 0)
  );
}

/**
 * `envelope` with its guid, built as a literal of the same shape as the
 * envelopes read back from the table (guid first): the push encoder reads
 * every delivered envelope, and a spread copy would give it objects of
 * other shapes to look up fields in.
 */
export function withGuid(e: NewEnvelope, guid: Uint8Array): QueuedEnvelope {
  const base = {
    guid,
    destination: e.destination,
    destinationDevice: e.destinationDevice,
    source: e.source,
    sourceDevice: e.sourceDevice,
    type: e.type,
    content: e.content,
    timestamp: e.timestamp,
    serverTimestamp: e.serverTimestamp,
  };
  if (e.sourceDeviceIdentity === undefined && e.groupId === undefined) return base;
  return {
    ...base,
    ...(e.sourceDeviceIdentity === undefined
      ? {}
      : { sourceDeviceIdentity: e.sourceDeviceIdentity }),
    ...(e.groupId === undefined ? {} : { groupId: e.groupId }),
  };
}
