/**
 * Fixtures for the chat-state tests: ids, stored messages, and data
 * messages built as a peer would send them (serialized and parsed again, so
 * every event goes through the content decoder).
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { DataMessageSchema, type DataMessage } from '../../../src/gen/quintet/v1/content_pb.js';
import { parseContent, serializeContent } from '../../../src/client/core/content.js';
import type { StoredMessage } from '../../../src/client/core/store/records.js';

export const T0 = Date.UTC(2026, 0, 1);
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

/** A 16-byte id from a small number (distinct numbers, distinct ids). */
export function idOf(n: number): Uint8Array {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(12, n);
  id[0] = 0xc7;
  return id;
}

/** A stored chat message of `sender` in `chat`. */
export function stored(
  n: number,
  sender: string,
  sentAt = T0,
  extra: Partial<StoredMessage> = {},
): StoredMessage {
  return {
    id: idOf(n),
    chat: 'chat',
    sender,
    senderDevice: 1,
    text: `message ${n}`,
    sentAt,
    receivedAt: sentAt,
    outgoing: false,
    receipts: {},
    ...extra,
  };
}

/** A data message as it arrives: built, serialized, parsed (checked) again. */
export function data(init: MessageInitShape<typeof DataMessageSchema>): DataMessage {
  const bytes = serializeContent({
    body: { case: 'dataMessage', value: create(DataMessageSchema, init) },
  });
  const content = parseContent(bytes);
  if (content.body.case !== 'dataMessage') throw new Error('not a data message');
  return content.body.value;
}
