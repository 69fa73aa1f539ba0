/**
 * Decoder checks for the chat-event fields of a `DataMessage` and for the
 * delete-for-me sync (content.proto). The bytes come from a peer: anything
 * out of shape or over a bound is `ClientError('invalid-content')`, before
 * any state is touched.
 */
import type { DataMessage, DeleteForMe, MessageRef } from '../../../gen/quintet/v1/content_pb.js';
import { ClientError } from '../errors.js';
import {
  MAX_DELETE_FOR_ME_TARGETS,
  MAX_EMOJI_BYTES,
  MAX_EXPIRE_TIMER_S,
  MAX_SNIPPET_CHARS,
  TIMER_VALUES,
} from './chat-rules.js';

const MESSAGE_ID_LENGTH = 16;
/** An account name is short (src/wire/account-name.ts); refuse anything longer. */
const MAX_AUTHOR_CHARS = 64;

function invalid(message: string): ClientError {
  return new ClientError('invalid-content', message);
}

/** A message reference must name an author and a 16-byte id. */
export function checkMessageRef(ref: MessageRef | undefined, what: string): MessageRef {
  if (ref === undefined) throw invalid(`${what} names no message`);
  if (ref.messageId.length !== MESSAGE_ID_LENGTH) {
    throw invalid(`${what} message id must be 16 bytes`);
  }
  if (ref.author.length === 0 || ref.author.length > MAX_AUTHOR_CHARS) {
    throw invalid(`${what} author is not an account name`);
  }
  return ref;
}

/** Checks the quote, event and timer fields of a data message. */
export function checkChatData(data: DataMessage): void {
  if (data.expireTimer > MAX_EXPIRE_TIMER_S) throw invalid('expire timer is over 90 days');
  if (data.quote !== undefined) {
    checkMessageRef(data.quote.target, 'quote');
    if (data.quote.snippet.length > MAX_SNIPPET_CHARS) throw invalid('quote snippet is too long');
  }
  const event = data.event;
  if (event.case === undefined) return;
  // An event is not a chat message: it must not smuggle one in as well.
  if (data.text !== '' || data.attachment !== undefined || data.quote !== undefined) {
    throw invalid('a chat event carries no text, attachment or quote of its own');
  }
  switch (event.case) {
    case 'reaction': {
      checkMessageRef(event.value.target, 'reaction');
      const bytes = new TextEncoder().encode(event.value.emoji).length;
      if (event.value.remove ? bytes !== 0 : bytes === 0 || bytes > MAX_EMOJI_BYTES) {
        throw invalid('a reaction is one emoji of 1 to 64 bytes, or a removal');
      }
      return;
    }
    case 'edit':
      checkMessageRef(event.value.target, 'edit');
      return;
    case 'delete':
      checkMessageRef(event.value.target, 'delete');
      return;
    case 'timerChange':
      if (!TIMER_VALUES.includes(event.value.seconds)) {
        throw invalid('the timer is not one of off, 24 h, 7 d, 90 d');
      }
      return;
  }
}

/** Checks a delete-for-me sync. */
export function checkDeleteForMe(sync: DeleteForMe): void {
  if (sync.chat.length === 0) throw invalid('delete-for-me names no chat');
  if (sync.targets.length === 0 || sync.targets.length > MAX_DELETE_FOR_ME_TARGETS) {
    throw invalid('delete-for-me names 1 to 100 messages');
  }
  for (const target of sync.targets) checkMessageRef(target, 'delete-for-me');
}
