/**
 * The CLI side of attachments: the blob client of a session, uploading a
 * file and downloading a received one into the media folder, each with a
 * progress bar on a terminal, and clear lines for the failures a user meets
 * (missing file, too large, quota, tampered download).
 */
import { join } from 'node:path';
import {
  type Attachment,
  AttachmentError,
  BlobClient,
  BlobError,
  cachedBlobCredential,
  downloadAttachment,
  uploadAttachment,
} from '../sdk/index.js';
import { CliError } from './cli-error.js';
import { blobBaseUrl, fileSink, fileSource } from './attachment-files.js';
import { formatBytes, progressBar } from './progress-bar.js';
import { nodeContext } from './session.js';

/** What issues blob credentials: an authenticated client (QuintetClient). */
export interface CredentialSource {
  getBlobCredential(): Promise<{ token: string; expiresAt: number }>;
}

/** A blob client for `serverUrl`, authenticated through `source` (token cached ~1 h). */
export function sessionBlobs(source: CredentialSource, serverUrl: string): BlobClient {
  return new BlobClient(
    blobBaseUrl(serverUrl),
    cachedBlobCredential(() => source.getBlobCredential()),
  );
}

/** Encrypts and uploads `path`, showing progress; the result goes into the message. */
export async function uploadFile(blobs: BlobClient, path: string): Promise<Attachment> {
  const source = await fileSource(path);
  const bar = progressBar(`sending ${source.fileName}`);
  try {
    return await uploadAttachment(nodeContext.crypto, blobs, source, (done, total) =>
      bar.update(done, total),
    );
  } catch (error) {
    throw attachmentFailure(error, source.size);
  } finally {
    bar.finish();
  }
}

/** Where `receive` saves attachments: `--media-dir`, else `<profile>/media`. */
export function mediaDir(option: string | undefined, profile: string | undefined): string {
  if (option !== undefined && option !== '') return option;
  if (profile === undefined) throw new CliError('no profile folder for the media');
  return join(profile, 'media');
}

/** Downloads and verifies an attachment into `dir`; returns the file's path. */
export async function saveAttachment(
  blobs: BlobClient,
  attachment: Attachment,
  dir: string,
): Promise<string> {
  const sink = await fileSink(dir, attachment.fileName);
  const bar = progressBar(`receiving ${attachment.fileName}`);
  try {
    await downloadAttachment(nodeContext.crypto, blobs, attachment, sink, (done, total) =>
      bar.update(done, total),
    );
  } catch (error) {
    throw attachmentFailure(error, attachment.size);
  } finally {
    bar.finish();
  }
  return sink.path();
}

/** A clear line for an attachment failure; anything else passes through. */
export function attachmentFailure(error: unknown, size: number): unknown {
  if (AttachmentError.is(error, 'tampered')) {
    return new CliError(
      `the attachment failed its integrity check (${error.message}); nothing was saved`,
    );
  }
  if (error instanceof BlobError) {
    const limit = error.details.limit;
    switch (error.code) {
      case 'blob-too-large':
        return new CliError(
          `the file is too large for this server (${formatBytes(size)}${limit === undefined ? '' : `; the limit is ${formatBytes(limit)}`})`,
        );
      case 'quota-exceeded':
        return new CliError(
          `the account's storage quota on the server is used up${limit === undefined ? '' : ` (${formatBytes(limit)})`}; nothing was sent`,
        );
      case 'not-found':
        return new CliError('the attachment is no longer on the server (expired or deleted)');
      case 'unauthorized':
        return new CliError('the server refused the blob credential');
      case 'unavailable':
        return new CliError('the server cannot store or serve attachments right now; try again');
      case 'rate-limited':
        return new CliError('too many transfers in progress for this account; try again shortly');
      case 'network':
        return new CliError('the connection to the server kept breaking during the transfer');
      case 'bad-request':
      case 'bad-response':
        return new CliError(`the transfer failed (${error.message})`);
    }
  }
  return error;
}
