/**
 * Rows of the PostgreSQL queue in and out (queue.ts): the check an envelope
 * passes before it may join a batch, the mapping of a queue row back to an
 * envelope, and the default source of the guids' random half.
 */
import type { NewEnvelope, QueuedEnvelope } from '../types.js';
import { blob, int, optionalBlob, text, type Row } from './rows.js';

export function defaultRandom(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

function isSafeInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/**
 * Whether `e` can be written at all. Checked at submission so one malformed
 * envelope fails only its own caller, not the whole batch it would join.
 */
export function storable(e: NewEnvelope): boolean {
  return (
    typeof e.destination === 'string' &&
    typeof e.source === 'string' &&
    isSafeInt(e.destinationDevice) &&
    isSafeInt(e.sourceDevice) &&
    isSafeInt(e.type) &&
    isSafeInt(e.timestamp) &&
    isSafeInt(e.serverTimestamp) &&
    e.content instanceof Uint8Array &&
    (e.sourceDeviceIdentity === undefined || e.sourceDeviceIdentity instanceof Uint8Array) &&
    (e.groupId === undefined || e.groupId instanceof Uint8Array)
  );
}

export function toEnvelope(row: Row): QueuedEnvelope {
  const identity = optionalBlob(row, 'source_device_identity');
  const groupId = optionalBlob(row, 'group_id');
  return {
    guid: blob(row, 'guid'),
    destination: text(row, 'account'),
    destinationDevice: int(row, 'device_id'),
    source: text(row, 'source'),
    sourceDevice: int(row, 'source_device'),
    type: int(row, 'type'),
    content: blob(row, 'content'),
    timestamp: int(row, 'timestamp'),
    serverTimestamp: int(row, 'server_timestamp'),
    ...(identity === undefined ? {} : { sourceDeviceIdentity: identity }),
    ...(groupId === undefined ? {} : { groupId }),
  };
}
