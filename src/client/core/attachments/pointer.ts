/**
 * The attachment pointer as the client core sees it, and its checks. A
 * pointer arrives from a peer, so `attachmentFromPointer` is a trust
 * boundary: a malformed one makes the whole content invalid rather than
 * leaving a half-usable attachment behind.
 */
import type { AttachmentPointer } from '../../../gen/quintet/v1/content_pb.js';
import { AttachmentError } from './errors.js';
import { MEDIA_KEY_LENGTH } from './media-crypto.js';

/** Largest thumbnail accepted inline (it travels in every copy of the message). */
export const MAX_THUMBNAIL_BYTES = 16 * 1024;
const MAX_BLOB_ID = 128;
const MAX_NAME = 255;
const MAX_MIME = 127;

/** An attachment of a stored or sent message. */
export interface Attachment {
  readonly blobId: string;
  /** Secret: stays in the device store; never printed, logged or put in JSON. */
  readonly mediaKey: Uint8Array;
  readonly plaintextSha256: Uint8Array;
  readonly ciphertextSha256: Uint8Array;
  readonly size: number;
  readonly mimeType: string;
  readonly fileName: string;
  readonly thumbnail?: Uint8Array;
}

export function attachmentToPointer(value: Attachment): Omit<AttachmentPointer, '$typeName'> {
  return {
    blobId: value.blobId,
    mediaKey: value.mediaKey,
    plaintextSha256: value.plaintextSha256,
    ciphertextSha256: value.ciphertextSha256,
    size: BigInt(value.size),
    mimeType: value.mimeType,
    fileName: value.fileName,
    thumbnail: value.thumbnail ?? new Uint8Array(0),
  };
}

/** Checks a received pointer; throws `AttachmentError('invalid-pointer')`. */
export function attachmentFromPointer(pointer: AttachmentPointer): Attachment {
  const bad = (what: string): never => {
    throw new AttachmentError('invalid-pointer', `attachment ${what}`);
  };
  if (pointer.blobId.length === 0 || pointer.blobId.length > MAX_BLOB_ID) bad('id is malformed');
  if (!/^[A-Za-z0-9_-]+$/.test(pointer.blobId)) bad('id is malformed');
  if (pointer.mediaKey.length !== MEDIA_KEY_LENGTH) bad('key must be 32 bytes');
  if (pointer.plaintextSha256.length !== 32 || pointer.ciphertextSha256.length !== 32) {
    bad('hashes must be 32 bytes');
  }
  if (pointer.size > BigInt(Number.MAX_SAFE_INTEGER)) bad('size is out of range');
  if (pointer.fileName.length > MAX_NAME || pointer.mimeType.length > MAX_MIME) {
    bad('name or type is too long');
  }
  if (pointer.thumbnail.length > MAX_THUMBNAIL_BYTES) bad('thumbnail is too large');
  return {
    blobId: pointer.blobId,
    mediaKey: pointer.mediaKey,
    plaintextSha256: pointer.plaintextSha256,
    ciphertextSha256: pointer.ciphertextSha256,
    size: Number(pointer.size),
    mimeType: pointer.mimeType,
    fileName: pointer.fileName,
    ...(pointer.thumbnail.length > 0 ? { thumbnail: pointer.thumbnail } : {}),
  };
}

/** The attachment of a data message, if it carries one. */
export function attachmentOf(data: { attachment?: AttachmentPointer }): Attachment | undefined {
  return data.attachment === undefined ? undefined : attachmentFromPointer(data.attachment);
}

/**
 * A file name safe to use inside a folder: the last path segment, without
 * control characters or a leading dot, so a hostile sender cannot write
 * outside the media folder or hide a file.
 */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const printable = [...base].filter((ch) => ch >= ' ' && ch !== '\u007f').join('');
  const clean = printable.replace(/^\.+/, '').trim();
  return clean.length === 0 ? 'attachment' : clean.slice(0, MAX_NAME);
}

/** `{ attachment }` for a message record, or nothing when the message has none. */
export function withAttachment(data: { attachment?: AttachmentPointer }): {
  attachment?: Attachment;
} {
  const attachment = attachmentOf(data);
  return attachment === undefined ? {} : { attachment };
}
