/**
 * Typed client records and their byte encodings (proto/quintet/v1/
 * client_store.proto). Stored bytes are local, but a damaged profile must
 * still fail with a typed error rather than crash, so decoding wraps every
 * parse failure in `ClientError('invalid-record')`.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { ReactionMarkSchema } from '../../../gen/quintet/v1/client_store_pb.js';
import {
  LocalAccountRecordSchema,
  SentMessageRecordSchema,
  StoredMessageRecordSchema,
  type StoredMessageRecord,
} from '../../../gen/quintet/v1/client_store_pb.js';
import { ClientError } from '../errors.js';
import {
  attachmentFromPointer,
  attachmentToPointer,
  type Attachment,
} from '../attachments/pointer.js';

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
  /**
   * This device's index in the account's signed key-index list: 0 for the
   * primary, ≥ 1 for a companion (assigned by the primary at link time).
   * Absent means 0.
   */
  readonly keyIndex?: number;
  /**
   * Companions only: this device's `ADVSignedDeviceIdentity` with both the
   * account and the device signature. Sent with prekey messages so peers can
   * check the primary vouched for this device (validation step 4).
   */
  readonly signedDeviceIdentity?: Uint8Array;
  /** The primary only: its linking state (absent on companions). */
  readonly link?: PrimaryLinkState;
  /**
   * Set once the server removed this device. The keys are wiped; every
   * command must refuse with "this device was logged out (<reason>)".
   */
  readonly loggedOut?: LoggedOutMark;
}

/**
 * What the primary needs to vouch for and remove companions within one
 * account-key epoch. Kept locally because the server is not trusted with
 * the device set: the next list is built from this, not from what the
 * server serves.
 */
export interface PrimaryLinkState {
  /** Random 32-bit id of the account-key epoch. */
  readonly rawId: number;
  /** The key index the next companion gets; never reused within the epoch. */
  readonly nextKeyIndex: number;
  /** The latest `ADVSignedKeyIndexList` this primary signed. */
  readonly signedKeyIndexList: Uint8Array;
  /** Its timestamp in seconds; every later list must be strictly newer (rollback guard). */
  readonly listTimestamp: number;
  /** Linked companions in that list: device id → key index. */
  readonly companions: Readonly<Record<number, number>>;
  /**
   * When each companion was approved, ms. Until a companion completes its
   * side of the link the server does not list it, so pruning must skip it.
   */
  readonly approvedAt?: Readonly<Record<number, number>>;
}

/** Why and when the server logged this device out. */
export interface LoggedOutMark {
  /** The server's reason: `removed`, `logout`, `primary-inactive`, `inactive`, … */
  readonly reason: string;
  /** ms since the epoch. */
  readonly at: number;
}

/** The primary device's id (companions get ids ≥ 2 from the server). */
const PRIMARY_ID = 1;

/** Whether this profile is the account's primary device (device id 1). */
export function isPrimaryAccount(account: LocalAccount): boolean {
  return account.deviceId === PRIMARY_ID;
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
  /** A file sent with the message; `text` is then its caption. */
  readonly attachment?: Attachment;
  /** Chat state (chat/chat-state.ts): the quoted message of a reply. */
  readonly replyTo?: MessageQuote;
  /** The disappearing timer the message was sent with, seconds (absent = off). */
  readonly expireTimer?: number;
  /** When the message disappears, ms (the sender's time + the timer). */
  readonly expiresAt?: number;
  /** The latest accepted edit; `text` holds its text. */
  readonly edit?: EventMark;
  /** Set once deleted: only the identity fields remain. */
  readonly deleted?: DeletedState;
  /** Per reacting account, its latest reaction (removals kept as marks). */
  readonly reactions?: Readonly<Record<string, ReactionMark>>;
  /** Set on a chat entry that records a disappearing-timer change: the new seconds. */
  readonly timerChange?: number;
}

/** A reply's reference to the message it answers. */
export interface MessageQuote {
  readonly author: string;
  readonly id: Uint8Array;
  /** The quoted text as the replying device had it. */
  readonly snippet: string;
}

/** Why a stored message no longer shows its content. */
export type DeletedState = 'everyone' | 'me' | 'expired';

/** The identity of an accepted edit or reaction, for last-writer-wins. */
export interface EventMark {
  readonly at: number;
  readonly device: number;
  readonly eventId: Uint8Array;
}

/** One account's reaction to a message. */
export interface ReactionMark extends EventMark {
  /** Empty when removed. */
  readonly emoji: string;
  readonly removed: boolean;
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

/** Encodes the account record (proto `LocalAccountRecord`). */
export function encodeLocalAccount(value: LocalAccount): Uint8Array {
  const link = value.link;
  return toBinary(
    LocalAccountRecordSchema,
    create(LocalAccountRecordSchema, {
      account: value.account,
      deviceId: value.deviceId,
      registrationId: value.registrationId,
      serverUrl: value.serverUrl,
      createdAt: BigInt(value.createdAt),
      nextPreKeyId: value.nextPreKeyId,
      signedPreKeyId: value.signedPreKeyId,
      keyIndex: value.keyIndex ?? 0,
      signedDeviceIdentity: value.signedDeviceIdentity ?? new Uint8Array(0),
      linkState:
        link === undefined
          ? undefined
          : {
              rawId: link.rawId,
              nextKeyIndex: link.nextKeyIndex,
              signedKeyIndexList: link.signedKeyIndexList,
              listTimestamp: BigInt(link.listTimestamp),
              companions: { ...link.companions },
              approvedAt: Object.fromEntries(
                Object.entries(link.approvedAt ?? {}).map(([device, at]) => [device, BigInt(at)]),
              ),
            },
      loggedOutReason: value.loggedOut?.reason ?? '',
      loggedOutAt: BigInt(value.loggedOut?.at ?? 0),
    }),
  );
}

/**
 * Decodes the account record. Optional multi-device fields are present only
 * when stored, so an old single-device profile decodes exactly as before.
 */
export function decodeLocalAccount(bytes: Uint8Array): LocalAccount {
  const record = decode('account', () => fromBinary(LocalAccountRecordSchema, bytes));
  const link = record.linkState;
  const companions: Record<number, number> = {};
  if (link !== undefined) {
    for (const [device, index] of Object.entries(link.companions)) {
      companions[Number(device)] = index;
    }
  }
  return {
    account: record.account,
    deviceId: record.deviceId,
    registrationId: record.registrationId,
    serverUrl: record.serverUrl,
    createdAt: Number(record.createdAt),
    nextPreKeyId: record.nextPreKeyId,
    signedPreKeyId: record.signedPreKeyId,
    ...(record.keyIndex !== 0 ? { keyIndex: record.keyIndex } : {}),
    ...(record.signedDeviceIdentity.length > 0
      ? { signedDeviceIdentity: record.signedDeviceIdentity }
      : {}),
    ...(link !== undefined
      ? {
          link: {
            rawId: link.rawId,
            nextKeyIndex: link.nextKeyIndex,
            signedKeyIndexList: link.signedKeyIndexList,
            listTimestamp: Number(link.listTimestamp),
            companions,
            ...(Object.keys(link.approvedAt).length > 0
              ? {
                  approvedAt: Object.fromEntries(
                    Object.entries(link.approvedAt).map(([device, at]) => [
                      Number(device),
                      Number(at),
                    ]),
                  ),
                }
              : {}),
          },
        }
      : {}),
    ...(record.loggedOutReason !== ''
      ? { loggedOut: { reason: record.loggedOutReason, at: Number(record.loggedOutAt) } }
      : {}),
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
      ...(value.attachment !== undefined
        ? { attachment: attachmentToPointer(value.attachment) }
        : {}),
      ...chatStateFields(value),
    }),
  );
}

const DELETED_CODES: Record<DeletedState, number> = { everyone: 1, me: 2, expired: 3 };
const DELETED_STATES: Record<number, DeletedState> = { 1: 'everyone', 2: 'me', 3: 'expired' };

/** The chat-state fields of a stored message record (absent ones stay unset). */
function chatStateFields(value: StoredMessage) {
  const reactions: Record<string, MessageInitShape<typeof ReactionMarkSchema>> = {};
  for (const [account, mark] of Object.entries(value.reactions ?? {})) {
    reactions[account] = {
      emoji: mark.emoji,
      removed: mark.removed,
      at: BigInt(mark.at),
      device: mark.device,
      eventId: mark.eventId,
    };
  }
  return {
    ...(value.replyTo !== undefined
      ? {
          replyTo: {
            target: { author: value.replyTo.author, messageId: value.replyTo.id },
            snippet: value.replyTo.snippet,
          },
        }
      : {}),
    expireTimer: value.expireTimer ?? 0,
    expiresAt: BigInt(value.expiresAt ?? 0),
    ...(value.edit !== undefined
      ? {
          edit: {
            at: BigInt(value.edit.at),
            device: value.edit.device,
            eventId: value.edit.eventId,
          },
        }
      : {}),
    deleted: value.deleted === undefined ? 0 : DELETED_CODES[value.deleted],
    reactions,
    timerChange: value.timerChange === undefined ? 0 : value.timerChange + 1,
  };
}

/** The chat-state fields of a decoded record, only those that are set. */
function chatStateOf(record: StoredMessageRecord): Partial<StoredMessage> {
  const quote = record.replyTo;
  const reactions: Record<string, ReactionMark> = {};
  for (const [account, mark] of Object.entries(record.reactions)) {
    reactions[account] = {
      emoji: mark.emoji,
      removed: mark.removed,
      at: Number(mark.at),
      device: mark.device,
      eventId: mark.eventId,
    };
  }
  let deleted: DeletedState | undefined;
  if (record.deleted !== 0) {
    deleted = DELETED_STATES[record.deleted];
    if (deleted === undefined) {
      throw new ClientError('invalid-record', 'stored deletion state is unknown');
    }
  }
  return {
    ...(quote !== undefined
      ? {
          replyTo: {
            author: quote.target?.author ?? '',
            id: quote.target?.messageId ?? new Uint8Array(0),
            snippet: quote.snippet,
          },
        }
      : {}),
    ...(record.expireTimer !== 0 ? { expireTimer: record.expireTimer } : {}),
    ...(record.expiresAt !== 0n ? { expiresAt: Number(record.expiresAt) } : {}),
    ...(record.edit !== undefined
      ? {
          edit: {
            at: Number(record.edit.at),
            device: record.edit.device,
            eventId: record.edit.eventId,
          },
        }
      : {}),
    ...(deleted !== undefined ? { deleted } : {}),
    ...(Object.keys(reactions).length > 0 ? { reactions } : {}),
    ...(record.timerChange !== 0 ? { timerChange: record.timerChange - 1 } : {}),
  };
}

export function decodeStoredMessage(bytes: Uint8Array): StoredMessage {
  const record = decode('message', () => fromBinary(StoredMessageRecordSchema, bytes));
  const pointer = record.attachment;
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
    ...(pointer !== undefined
      ? { attachment: decode('attachment', () => attachmentFromPointer(pointer)) }
      : {}),
    ...chatStateOf(record),
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
