/**
 * Moving an attachment through the blob store: encrypt-while-uploading on
 * the way out, download-decrypt-verify into a sink on the way in. Memory is
 * bounded by the chunk size whatever the file size.
 *
 * Pure module: the blob store is reached through `AttachmentBlobs` (the
 * shape of `BlobClient`, src/client/transport/blob-client.ts), files through
 * `AttachmentSource` / `AttachmentSink`, which Node and the browser provide.
 */
import type { CryptoProvider } from '../../../crypto/provider.js';
import { AttachmentError } from './errors.js';
import {
  decryptAttachment,
  encryptAttachment,
  encryptedSize,
  mediaTypeOf,
  newMediaKey,
} from './media-crypto.js';
import { MAX_THUMBNAIL_BYTES, safeFileName, type Attachment } from './pointer.js';

/** The blob calls attachments need (a `BlobClient` has them). */
export interface AttachmentBlobs {
  upload(
    body: AsyncIterable<Uint8Array> | Uint8Array,
    size: number,
    kind: 'attachment' | 'archive',
    onProgress?: (sent: number) => void,
  ): Promise<{ id: string; expiresAt: number }>;
  download(
    id: string,
    options?: { offset?: number; onProgress?: (received: number) => void },
  ): AsyncIterable<Uint8Array>;
}

/** A file to send. `size` must be exact: the upload announces it up front. */
export interface AttachmentSource {
  readonly size: number;
  readonly fileName: string;
  readonly mimeType: string;
  /** Images: a small JPEG/PNG preview (≤ 16 KiB), carried inside the message. */
  readonly thumbnail?: Uint8Array;
  read(): AsyncIterable<Uint8Array>;
}

/**
 * Where a download goes. Nothing written may become visible before
 * `commit` (a Node sink writes a temporary file and renames it); `abort`
 * discards everything written so far.
 */
export interface AttachmentSink {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Progress of an upload or a download, in bytes of the encrypted blob. */
export type TransferProgress = (done: number, total: number) => void;

/** Encrypts and uploads `source` once; the result goes into the message. */
export async function uploadAttachment(
  crypto: CryptoProvider,
  blobs: AttachmentBlobs,
  source: AttachmentSource,
  onProgress?: TransferProgress,
): Promise<Attachment> {
  if (source.thumbnail !== undefined && source.thumbnail.length > MAX_THUMBNAIL_BYTES) {
    throw new AttachmentError('invalid-pointer', 'the thumbnail is larger than 16 KiB');
  }
  const mediaKey = newMediaKey(crypto);
  const mimeType = source.mimeType === '' ? 'application/octet-stream' : source.mimeType;
  const run = encryptAttachment(
    crypto,
    mediaKey,
    mediaTypeOf(mimeType),
    source.read(),
    source.size,
  );
  const total = encryptedSize(source.size);
  const { id } = await blobs.upload(run.ciphertext, total, 'attachment', (sent) =>
    onProgress?.(sent, total),
  );
  const digests = run.digests();
  // A file that changed size while it was read would leave a pointer that
  // can never verify; refuse rather than send it.
  if (digests.size !== source.size || digests.encryptedSize !== total) {
    throw new AttachmentError('invalid-pointer', 'the file changed while it was being sent');
  }
  return {
    blobId: id,
    mediaKey,
    plaintextSha256: digests.plaintextSha256,
    ciphertextSha256: digests.ciphertextSha256,
    size: digests.size,
    mimeType,
    fileName: safeFileName(source.fileName),
    ...(source.thumbnail !== undefined && source.thumbnail.length > 0
      ? { thumbnail: source.thumbnail }
      : {}),
  };
}

/**
 * Downloads, decrypts and verifies an attachment into `sink`, committing
 * only when the MAC and both hashes matched; otherwise aborts the sink and
 * throws (`AttachmentError('tampered')` for a mismatch, the blob client's
 * error for a transfer failure).
 */
export async function downloadAttachment(
  crypto: CryptoProvider,
  blobs: AttachmentBlobs,
  attachment: Attachment,
  sink: AttachmentSink,
  onProgress?: TransferProgress,
): Promise<void> {
  const total = encryptedSize(attachment.size);
  try {
    const blob = blobs.download(attachment.blobId, {
      onProgress: (received) => onProgress?.(received, total),
    });
    const plain = decryptAttachment(
      crypto,
      {
        mediaKey: attachment.mediaKey,
        type: mediaTypeOf(attachment.mimeType),
        size: attachment.size,
        plaintextSha256: attachment.plaintextSha256,
        ciphertextSha256: attachment.ciphertextSha256,
      },
      blob,
    );
    for await (const chunk of plain) await sink.write(chunk);
  } catch (error) {
    await sink.abort();
    throw error;
  }
  await sink.commit();
}
