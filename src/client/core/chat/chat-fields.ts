/**
 * The chat-state fields a sender puts on a `DataMessage` (content.proto):
 * a reply's quote, one event, the disappearing timer. Shared by the 1:1
 * and the group send paths.
 */

/** A `MessageRef` as sent. */
export interface MessageRefInit {
  readonly author: string;
  readonly messageId: Uint8Array;
}

/** The `event` oneof of a data message. */
export type ChatEventInit =
  | {
      readonly case: 'reaction';
      readonly value: {
        readonly target: MessageRefInit;
        readonly emoji: string;
        readonly remove: boolean;
      };
    }
  | {
      readonly case: 'edit';
      readonly value: { readonly target: MessageRefInit; readonly text: string };
    }
  | { readonly case: 'delete'; readonly value: { readonly target: MessageRefInit } }
  | { readonly case: 'timerChange'; readonly value: { readonly seconds: number } };

export interface ChatDataFields {
  readonly quote?: { readonly target: MessageRefInit; readonly snippet: string };
  readonly event?: ChatEventInit;
  readonly expireTimer?: number;
}
