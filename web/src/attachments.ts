/**
 * Attachments in the browser: files picked or dropped become encrypted
 * uploads (with a canvas-made thumbnail for images), and received
 * attachments are downloaded, verified and shown — images inline (the
 * thumbnail first, then the full image), other files as a download link.
 *
 * A download streams through decryption into a file in the Origin Private
 * File System (download-files.ts; bounded memory whatever the size) and is
 * turned into an object URL only after every check passed
 * (`downloadAttachment` commits the sink last); a tampered file is removed
 * and never reaches the page.
 */
import {
  type Attachment,
  type AttachmentSource,
  BlobClient,
  browserCrypto,
  cachedBlobCredential,
  downloadAttachment,
  MAX_THUMBNAIL_BYTES,
  type StoredMessage,
  toHex,
  uploadAttachment,
} from '../../src/sdk/browser.js';
import { DownloadFiles } from './download-files.js';

/** What the page shows for one message's attachment. */
export type AttachmentState =
  | { readonly kind: 'loading'; readonly done: number; readonly total: number }
  | { readonly kind: 'ready'; readonly url: string }
  | { readonly kind: 'failed'; readonly reason: string };

/** Where blob credentials come from: the live connection. */
export interface CredentialSource {
  getBlobCredential(): Promise<{ token: string; expiresAt: number }>;
}

const THUMBNAIL_EDGE = 160;

export class WebAttachments {
  readonly #blobs: BlobClient;
  readonly #states = new Map<string, AttachmentState>();
  readonly #files = new DownloadFiles();

  constructor(
    origin: string,
    credentials: () => CredentialSource | undefined,
    private readonly changed: () => void,
  ) {
    this.#blobs = new BlobClient(
      origin,
      cachedBlobCredential(() => {
        const source = credentials();
        if (source === undefined) return Promise.reject(new Error('not connected'));
        return source.getBlobCredential();
      }),
    );
  }

  /** Encrypts and uploads `file`; `progress` gets the fraction sent. */
  async upload(file: File, progress: (fraction: number) => void): Promise<Attachment> {
    const source = await fileSource(file);
    return uploadAttachment(browserCrypto, this.#blobs, source, (done, total) =>
      progress(total === 0 ? 1 : done / total),
    );
  }

  /** The state of `message`'s attachment, starting its download the first time. */
  state(message: StoredMessage): AttachmentState | undefined {
    const attachment = message.attachment;
    if (attachment === undefined) return undefined;
    const key = `${message.chat}/${toHex(message.id)}`;
    const known = this.#states.get(key);
    if (known !== undefined) return known;
    this.#set(key, { kind: 'loading', done: 0, total: attachment.size });
    void this.#download(key, attachment);
    return this.#states.get(key);
  }

  async #download(key: string, attachment: Attachment): Promise<void> {
    try {
      const sink = await this.#files.open(attachment.mimeType, attachment.size);
      await downloadAttachment(browserCrypto, this.#blobs, attachment, sink, (done, total) =>
        this.#set(key, { kind: 'loading', done, total }),
      );
      const content = sink.result();
      // An OPFS File carries no MIME type of its own; the pointer's is used
      // (a slice is a view of the same file, not a copy).
      const typed =
        content.type === attachment.mimeType
          ? content
          : content.slice(0, content.size, attachment.mimeType);
      this.#set(key, { kind: 'ready', url: URL.createObjectURL(typed) });
    } catch (error) {
      this.#set(key, {
        kind: 'failed',
        reason: error instanceof Error ? error.message : 'download failed',
      });
    }
  }

  #set(key: string, state: AttachmentState): void {
    this.#states.set(key, state);
    this.changed();
  }
}

/** A `File` as an attachment source, with a thumbnail for images. */
async function fileSource(file: File): Promise<AttachmentSource> {
  const thumbnail = file.type.startsWith('image/') ? await makeThumbnail(file) : undefined;
  return {
    size: file.size,
    fileName: file.name,
    mimeType: file.type,
    ...(thumbnail !== undefined ? { thumbnail } : {}),
    async *read() {
      const reader = file.stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    },
  };
}

/**
 * A small JPEG of the image drawn on a canvas, at most 16 KiB; none when the
 * browser cannot decode the image (the message then goes without one).
 */
async function makeThumbnail(file: File): Promise<Uint8Array | undefined> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    // Not decodable here (an unsupported format): no preview, the file still goes.
    return undefined;
  }
  const scale = Math.min(1, THUMBNAIL_EDGE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  for (const quality of [0.7, 0.5, 0.3]) {
    const blob = await new Promise<Blob | null>((done) =>
      canvas.toBlob(done, 'image/jpeg', quality),
    );
    if (blob !== null && blob.size <= MAX_THUMBNAIL_BYTES) {
      return new Uint8Array(await blob.arrayBuffer());
    }
  }
  return undefined;
}

/** Object URLs of inline thumbnails, one per message (made once, not per render). */
const thumbnailUrls = new Map<string, string>();
export function thumbnailUrl(message: StoredMessage, bytes: Uint8Array): string {
  const key = `${message.chat}/${toHex(message.id)}`;
  let url = thumbnailUrls.get(key);
  if (url === undefined) {
    url = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }));
    thumbnailUrls.set(key, url);
  }
  return url;
}
