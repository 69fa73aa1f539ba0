/**
 * Typed errors of the chat calls (chat-sender.ts): a send this device can
 * already tell every receiver would refuse is stopped before it leaves, with
 * the same reason the receivers would give.
 */
export type ChatErrorCode =
  /** No message with that id in that chat on this device. */
  | 'unknown-message'
  /** The message is deleted or expired: nothing left to edit, quote or react to. */
  | 'message-deleted'
  /** Only the author may edit or delete a message for everyone. */
  | 'not-author'
  | 'edit-window-passed'
  | 'delete-window-passed'
  /** A timer entry, not a message. */
  | 'not-a-message'
  /** In a group only admins change the timer. */
  | 'not-admin'
  /** An argument out of range (emoji size, timer value, empty list). */
  | 'invalid-argument';

export class ChatError extends Error {
  override readonly name = 'ChatError';
  constructor(
    readonly code: ChatErrorCode,
    message: string,
  ) {
    super(message);
  }
  /** Type guard: `ChatError.is(err, 'not-author')`. */
  static is(value: unknown, code?: ChatErrorCode): value is ChatError {
    return value instanceof ChatError && (code === undefined || value.code === code);
  }
}
