/**
 * The client's typed event stream: one tagged union, consumed as an
 * `AsyncIterable` (`for await (const event of client.events())`). Events carry
 * only what an application needs to show; never keys.
 */
import type { StoredMessage } from './store/records.js';
import type { ChatStateEvent } from './chat/chat-events.js';
import type { TypingEvent } from './typing.js';

/** A new chat message was stored (shown once, even if its envelope arrived twice). */
export interface MessageEvent {
  readonly type: 'message';
  readonly message: StoredMessage;
}

/** A peer device reported delivery or reading of messages this device sent. */
export interface ReceiptEvent {
  readonly type: 'receipt';
  readonly kind: 'delivery' | 'read';
  readonly from: string;
  readonly fromDevice: number;
  readonly messageIds: readonly Uint8Array[];
  readonly timestamp: number;
}

/**
 * An envelope could not be decrypted or parsed. For decryption failures a
 * retry request went to the sender (`retryRequested`), which re-encrypts on a
 * fresh session, so the message usually follows as a `message` event.
 * `retryRequested` is false when the sender device already got its share of
 * retry requests lately (a flood of undecryptable envelopes).
 */
export interface DecryptionFailureEvent {
  readonly type: 'decryption-failure';
  readonly from: string;
  readonly fromDevice: number;
  /** The envelope's sender timestamp: the only thing known about the lost message. */
  readonly timestamp: number;
  /** The stable code of the underlying error ("bad-mac", "no-session", "invalid-padding", …). */
  readonly code: string;
  readonly retryRequested: boolean;
}

/** A peer asked this device to re-send a message it could not decrypt. */
export interface RetryRequestEvent {
  readonly type: 'retry-request';
  readonly from: string;
  readonly fromDevice: number;
  readonly timestamp: number;
  /**
   * `resent`: re-encrypted on a fresh session; `unknown`: no longer kept;
   * `exhausted`: 5 retries used; `rate-limited`: this device sent too many
   * requests lately (nothing was reset or re-sent).
   */
  readonly outcome: 'resent' | 'unknown' | 'exhausted' | 'failed' | 'rate-limited';
}

/** Every envelope queued at connect time has been processed (stored and acked). */
export interface QueueDrainedEvent {
  readonly type: 'queue-drained';
}

/** New one-time prekeys were uploaded because the server ran low. */
export interface PreKeysUploadedEvent {
  readonly type: 'pre-keys-uploaded';
  readonly count: number;
  /** KEM prekeys uploaded (one-time, plus a first last-resort one); post-quantum clients only. */
  readonly kemCount?: number;
}

/**
 * A background step failed (a store commit, an ack, a receipt send). The
 * envelope involved was not acked, so the server delivers it again later.
 */
export interface ClientErrorEvent {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}

/**
 * A device of `account` gets nothing from this device: it failed Automatic
 * Device Verification (an unsigned or unlisted device, a bad signature, a
 * replayed older device list, …). The CLI prints
 * `warning: not sending to bob device 3: signature-mismatch`.
 */
export interface DeviceRefusedEvent {
  readonly type: 'device-refused';
  readonly account: string;
  readonly deviceId: number;
  /** A stable reason: an ADV reject reason or error code. */
  readonly reason: string;
}

/**
 * The account key (primary identity) of `account` changed: its owner
 * reinstalled Quintet on the primary, or the server substitutes keys. Told
 * once per new key, before anything is sent: nothing is encrypted to the
 * new key (sends fail with `untrusted-identity`, group sends leave the
 * account out) until the user compares the new safety number and accepts it
 * (`client.trust(account)`, `quintet trust <account>`). When `verified`, the
 * user had verified the old key and must verify the new one
 * (`quintet trust <account> --verified`).
 */
export interface AccountKeyChangedEvent {
  readonly type: 'account-key-changed';
  readonly account: string;
  /** The old key was marked verified. */
  readonly verified: boolean;
}

/**
 * An incoming first message (a prekey message) from `from`/`fromDevice` was
 * refused: the sending device could not be verified as vouched for by the
 * account key, so no session was created and the message was dropped (or,
 * with `held`, kept on the server for later).
 */
export interface SessionRefusedEvent {
  readonly type: 'session-refused';
  readonly from: string;
  readonly fromDevice: number;
  readonly timestamp: number;
  readonly reason: string;
  /**
   * True when the sender is a device of a new account key the user has not
   * accepted: the envelope was left on the server (not acked) and is read on
   * a later connection once the key is accepted, instead of being dropped.
   */
  readonly held: boolean;
}

/** The verified device set of `account` changed (a companion linked or removed). */
export interface DevicesChangedEvent {
  readonly type: 'devices-changed';
  readonly account: string;
  readonly added: readonly number[];
  readonly removed: readonly number[];
}

/** Another device of this account read messages of `chat` (read sync). */
export interface ReadSyncEvent {
  readonly type: 'read';
  readonly chat: string;
  readonly messageIds: readonly Uint8Array[];
  readonly fromDevice: number;
}

/**
 * The server removed this device (remote logout by the primary, own logout,
 * inactivity); nothing sent afterwards reaches it.
 */
export interface LoggedOutEvent {
  readonly type: 'logged-out';
  /** The server's reason: `removed`, `logout`, `primary-inactive`, `inactive`. */
  readonly reason: string;
}

/**
 * A verified change of a group's membership chain was applied (one event
 * per new link, oldest first). `action` is `create`, `add`, `remove` or
 * `leave`; `target` is the account added, removed or leaving.
 */
export interface GroupChangedEvent {
  readonly type: 'group-changed';
  /** The group id (UUID text, also the group's `chat`). */
  readonly groupId: string;
  readonly version: number;
  readonly action: 'create' | 'add' | 'remove' | 'leave';
  readonly target: string;
  readonly author: string;
  /** Members after the change. */
  readonly members: readonly string[];
}

/**
 * The server served a group change nobody legitimate signed (a forged or
 * unauthorised change, a broken or rewound chain). It was NOT applied: the
 * group keeps its last verified membership, and accounts only the server
 * added get no sender key and no message. The CLI prints
 * `warning: group … change 3 refused: bad-signature`.
 */
export interface GroupChangeRefusedEvent {
  readonly type: 'group-change-refused';
  readonly groupId: string;
  /** The first link that failed. */
  readonly version: number;
  /** A stable GroupError code (`bad-signature`, `untrusted-author`, `not-authorized`, …). */
  readonly code: string;
}

/** A group message (or key) from a device that is not a verified member was dropped. */
export interface GroupMessageRefusedEvent {
  readonly type: 'group-message-refused';
  readonly groupId: string;
  readonly from: string;
  readonly fromDevice: number;
  readonly reason: string;
}

/** The connection to the server ended. */
export interface DisconnectedEvent {
  readonly type: 'disconnected';
  /**
   * The WebSocket close code, when the transport knows it: 4001 (replaced
   * by a newer connection of this device) and 4003 (logged out) are final,
   * anything else is worth reconnecting (reconnect-policy.ts).
   */
  readonly closeCode?: number | undefined;
}

/**
 * History sync on a companion (docs/history.md): `bootstrap` once the
 * primary's bootstrap state is applied; then `started`, `progress`, `done`
 * for an archive, or `declined` (the primary sent none) or `failed` (with
 * a stable code and a reason; the device keeps working either way).
 */
export interface HistorySyncEvent {
  readonly type: 'history-sync';
  readonly phase: 'bootstrap' | 'started' | 'progress' | 'done' | 'declined' | 'failed';
  /** Archive messages imported so far, and in all. */
  readonly messages: number;
  readonly totalMessages: number;
  /** Archive bytes downloaded so far, and in all. */
  readonly bytes: number;
  readonly totalBytes: number;
  /** 0–100, by messages. */
  readonly percent: number;
  /** For `failed`: a stable code (`bad-mac`, `wrong-source`, `blob-failed`, …). */
  readonly code?: string;
  /** For `failed`: why, for people. */
  readonly reason?: string;
}

/** Everything `QuintetClient.events()` yields. */
export type ClientEvent =
  | MessageEvent
  | ReceiptEvent
  | DecryptionFailureEvent
  | RetryRequestEvent
  | QueueDrainedEvent
  | PreKeysUploadedEvent
  | ClientErrorEvent
  | DeviceRefusedEvent
  | AccountKeyChangedEvent
  | SessionRefusedEvent
  | DevicesChangedEvent
  | ReadSyncEvent
  | LoggedOutEvent
  | GroupChangedEvent
  | GroupChangeRefusedEvent
  | GroupMessageRefusedEvent
  | HistorySyncEvent
  | DisconnectedEvent
  | ChatStateEvent
  | TypingEvent;

/** Turns any thrown value into the stable code an event carries. */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    if (typeof code === 'string') return code;
  }
  return 'unknown';
}
