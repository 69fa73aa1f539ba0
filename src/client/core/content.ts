/**
 * Encoding and decoding of the plaintext `Content` (proto/quintet/v1/
 * content.proto), with the padding applied on the way in and checked on the
 * way out. Decoding is a trust boundary: the bytes came from a peer, so every
 * failure is a `ClientError('invalid-content' | 'invalid-padding')`.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { ContentSchema, type Content, type DataMessage } from '../../gen/quintet/v1/content_pb.js';
import { ClientError } from './errors.js';
import { pad, unpad } from './padding.js';
import { attachmentOf } from './attachments/pointer.js';
import { checkChatData, checkDeleteForMe } from './chat/chat-content.js';

/** Length of a message id. */
export const MESSAGE_ID_LENGTH = 16;

/** The shape accepted by `encodeContent` (a `Content` or its init object). */
export type ContentInit = MessageInitShape<typeof ContentSchema>;

/** Serializes a `Content` without padding (for the sent-message cache and plaintext notices). */
export function serializeContent(content: ContentInit): Uint8Array {
  return toBinary(ContentSchema, create(ContentSchema, content));
}

/** Serializes and pads a `Content`, ready for the session cipher. */
export function encodeContent(content: ContentInit): Uint8Array {
  return pad(serializeContent(content));
}

/** Parses unpadded `Content` bytes and checks the fields the client relies on. */
export function parseContent(bytes: Uint8Array): Content {
  let content: Content;
  try {
    content = fromBinary(ContentSchema, bytes);
  } catch (error) {
    throw new ClientError('invalid-content', 'content does not parse', { cause: error });
  }
  const body = content.body;
  switch (body.case) {
    case 'dataMessage':
      if (body.value.messageId.length !== MESSAGE_ID_LENGTH) {
        throw new ClientError('invalid-content', 'data message id must be 16 bytes');
      }
      checkAttachment(body.value);
      checkChatData(body.value);
      break;
    case 'receiptMessage':
      if (body.value.messageIds.some((id) => id.length !== MESSAGE_ID_LENGTH)) {
        throw new ClientError('invalid-content', 'receipt message ids must be 16 bytes');
      }
      break;
    case 'deviceSentMessage':
      if (body.value.message?.messageId.length !== MESSAGE_ID_LENGTH) {
        throw new ClientError('invalid-content', 'sent message id must be 16 bytes');
      }
      checkAttachment(body.value.message);
      checkChatData(body.value.message);
      break;
    case 'syncMessage': {
      const sync = body.value.body;
      if (sync.case === undefined) throw new ClientError('invalid-content', 'empty sync message');
      if (sync.case === 'deleteForMe') {
        checkDeleteForMe(sync.value);
        break;
      }
      if (sync.value.messageIds.some((id) => id.length !== MESSAGE_ID_LENGTH)) {
        throw new ClientError('invalid-content', 'read sync message ids must be 16 bytes');
      }
      break;
    }
    case 'decryptionErrorMessage':
    case 'senderKeyDistribution':
    case 'historySync':
    case 'bootstrapState':
    case 'typingMessage': // checked where it becomes an event (typing.ts: typingEvent)
      break;
    case undefined:
      throw new ClientError('invalid-content', 'content carries no message');
  }
  return content;
}

/** A malformed attachment pointer makes the whole content invalid. */
function checkAttachment(data: DataMessage): void {
  try {
    attachmentOf(data);
  } catch (error) {
    throw new ClientError('invalid-content', 'the attachment pointer is malformed', {
      cause: error,
    });
  }
}

/** Unpads and parses decrypted bytes. */
export function decodeContent(padded: Uint8Array): Content {
  return parseContent(unpad(padded));
}
