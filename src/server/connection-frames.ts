/**
 * Bytes in and out of a client connection (connection.ts): the response
 * encoder with its hand-written fast path for the two hot responses, and
 * what ws hands over turned into one byte array.
 */
import { encodeFrame, responseFrame, type ResponseBody } from '../wire/frame.js';
import { ackResponseBytes, sendMessageResponseBytes } from '../wire/hot-frames.js';
import { pooledBuffer } from './envelope-frames.js';

/** Encodes a response, by hand for the two on the message hot path. */
export function responseBytes(id: bigint, body: ResponseBody): Uint8Array {
  let bytes: Uint8Array | undefined;
  // Only bodies with no fields beyond the ones the hand encoder writes, so a
  // field added to these responses later is never dropped silently.
  if (body?.case === 'sendMessage' && onlyFields(body.value, 'queuedOnly')) {
    bytes = sendMessageResponseBytes(id, body.value.queuedOnly === true, pooledBuffer);
  } else if (body?.case === 'ack' && onlyFields(body.value)) {
    bytes = ackResponseBytes(id, pooledBuffer);
  }
  return bytes ?? encodeFrame(responseFrame(id, body));
}

function onlyFields(value: object, name?: string): boolean {
  // for-in rather than Object.keys: no array per response.
  for (const key in value) {
    if (key !== '$typeName' && key !== name && Object.hasOwn(value, key)) return false;
  }
  return true;
}

/** ws hands over a Buffer, an ArrayBuffer or fragments; anything else is not ours. */
export function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array)) {
    return Buffer.concat(data);
  }
  return undefined;
}
