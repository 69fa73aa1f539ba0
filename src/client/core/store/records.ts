/**
 * Typed client records and their byte encodings (proto/quintet/v1/
 * client_store.proto). Stored bytes are local, but a damaged profile must
 * still fail with a typed error rather than crash, so decoding wraps every
 * parse failure in `ClientError('invalid-record')`.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  LocalAccountRecordSchema,
  SentMessageRecordSchema,
  StoredMessageRecordSchema,
} from '../../../gen/quintet/v1/client_store_pb.js';
import { ClientError } from '../errors.js';

/** Who this device is. */
export interface LocalAccount {
  readonly account: string;
  readonly deviceId: number;
  readonly registrationId: number;
  readonly serverUrl: string;
  readonly createdAt: number;
  /** Next one-time prekey id to generate. */
  readonly nextPreKeyId: number;
  readonly signedPreKeyId: number;
}

/** Receipt progress of an outgoing message on one destination device. */
export type ReceiptState = 'delivered' | 'read';

/** A chat message as stored on this device. */
export interface StoredMessage {
  readonly id: Uint8Array;
  /** The peer account: the chat this message belongs to. */
  readonly chat: string;
  readonly sender: string;
  readonly senderDevice: number;
  readonly text: string;
  /** The sender's clock, ms since the epoch. */
  readonly sentAt: number;
  /** This device's clock; 0 for outgoing messages. */
  readonly receivedAt: number;
  readonly outgoing: boolean;
  /** Per destination device ("account.device"), for outgoing messages. */
  readonly receipts: Readonly<Record<string, ReceiptState>>;
}

/** A recently sent message kept to answer retry requests. */
export interface SentMessage {
  readonly destination: string;
  readonly timestamp: number;
  /** Serialized, unpadded `Content`. */
  readonly content: Uint8Array;
  /** Retries already answered, per destination device id. */
  readonly retries: Readonly<Record<number, number>>;
}

function decode<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new ClientError('invalid-record', `stored ${what} record does not parse`, {
      cause: error,
    });
  }
}

export function encodeLocalAccount(value: LocalAccount): Uint8Array {
  return toBinary(
    LocalAccountRecordSchema,
    create(LocalAccountRecordSchema, { ...value, createdAt: BigInt(value.createdAt) }),
  );
}

export function decodeLocalAccount(bytes: Uint8Array): LocalAccount {
  const record = decode('account', () => fromBinary(LocalAccountRecordSchema, bytes));
  return {
    account: record.account,
    deviceId: record.deviceId,
    registrationId: record.registrationId,
    serverUrl: record.serverUrl,
    createdAt: Number(record.createdAt),
    nextPreKeyId: record.nextPreKeyId,
    signedPreKeyId: record.signedPreKeyId,
  };
}

const RECEIPT_CODES: Record<ReceiptState, number> = { delivered: 1, read: 2 };

export function encodeStoredMessage(value: StoredMessage): Uint8Array {
  const receipts: Record<string, number> = {};
  for (const [device, state] of Object.entries(value.receipts)) {
    receipts[device] = RECEIPT_CODES[state];
  }
  return toBinary(
    StoredMessageRecordSchema,
    create(StoredMessageRecordSchema, {
      messageId: value.id,
      chat: value.chat,
      sender: value.sender,
      senderDevice: value.senderDevice,
      text: value.text,
      sentAt: BigInt(value.sentAt),
      receivedAt: BigInt(value.receivedAt),
      outgoing: value.outgoing,
      receipts,
    }),
  );
}

export function decodeStoredMessage(bytes: Uint8Array): StoredMessage {
  const record = decode('message', () => fromBinary(StoredMessageRecordSchema, bytes));
  const receipts: Record<string, ReceiptState> = {};
  for (const [device, code] of Object.entries(record.receipts)) {
    if (code === 1) receipts[device] = 'delivered';
    else if (code === 2) receipts[device] = 'read';
    else throw new ClientError('invalid-record', 'stored receipt state is unknown');
  }
  return {
    id: record.messageId,
    chat: record.chat,
    sender: record.sender,
    senderDevice: record.senderDevice,
    text: record.text,
    sentAt: Number(record.sentAt),
    receivedAt: Number(record.receivedAt),
    outgoing: record.outgoing,
    receipts,
  };
}

export function encodeSentMessage(value: SentMessage): Uint8Array {
  return toBinary(
    SentMessageRecordSchema,
    create(SentMessageRecordSchema, {
      destination: value.destination,
      timestamp: BigInt(value.timestamp),
      content: value.content,
      retries: { ...value.retries },
    }),
  );
}

export function decodeSentMessage(bytes: Uint8Array): SentMessage {
  const record = decode('sent message', () => fromBinary(SentMessageRecordSchema, bytes));
  return {
    destination: record.destination,
    timestamp: Number(record.timestamp),
    content: record.content,
    retries: { ...record.retries },
  };
}
