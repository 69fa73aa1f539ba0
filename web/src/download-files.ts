/**
 * Where the browser puts an attachment while it downloads: a file in the
 * Origin Private File System (OPFS), written chunk by chunk as the blob is
 * decrypted, so a large file never sits in the page's memory.
 *
 * Nothing is offered before it is verified: the file is written through a
 * `FileSystemWritableFileStream`, whose bytes Chromium keeps in a swap file
 * until `close()`; `downloadAttachment` calls `commit` (which closes it) only
 * after the MAC, both hashes and the size matched. On a mismatch `abort`
 * discards the stream and removes the entry, so no file is left. The page
 * then shows the verified `File` (disk-backed) through an object URL.
 *
 * Files live in one OPFS folder for the life of the page; the folder is
 * emptied when the first download of a page load starts (object URLs from
 * an earlier load are dead, and only one tab runs the app: tab-lock.ts).
 *
 * Without OPFS (an old browser, or one that refuses it, e.g. some private
 * modes) a download falls back to memory, bounded: a file larger than
 * `MEMORY_FALLBACK_LIMIT` is refused with a clear error instead of growing
 * the tab without bound.
 */
import type { AttachmentSink } from '../../src/sdk/browser.js';

const FOLDER = 'incoming-attachments';
/** The largest download held in memory when there is no OPFS. */
export const MEMORY_FALLBACK_LIMIT = 32 * 1024 * 1024;

/** A sink whose verified content can be shown once `commit` resolved. */
export interface DownloadFile extends AttachmentSink {
  /** The verified content; throws before `commit` resolved. */
  result(): Blob;
}

/** Why a download cannot be stored; `code` is stable. */
export class DownloadStorageError extends Error {
  override readonly name = 'DownloadStorageError';
  constructor(
    readonly code: 'too-large-for-memory',
    message: string,
  ) {
    super(message);
  }
}

export class DownloadFiles {
  #folder: Promise<FileSystemDirectoryHandle | undefined> | undefined;

  /** A sink for one download of `size` plaintext bytes. */
  async open(mimeType: string, size: number): Promise<DownloadFile> {
    this.#folder ??= openFolder();
    const folder = await this.#folder;
    if (folder === undefined) return memorySink(mimeType, size);
    return fileSink(folder);
  }
}

/** The OPFS root, or undefined where this browser has none or refuses it. */
async function opfsRoot(): Promise<FileSystemDirectoryHandle | undefined> {
  // Feature checks, not error handling: these browsers have no OPFS at all.
  if (typeof navigator.storage?.getDirectory !== 'function') return undefined;
  if (typeof FileSystemFileHandle === 'undefined') return undefined;
  if (!('createWritable' in FileSystemFileHandle.prototype)) return undefined;
  try {
    return await navigator.storage.getDirectory();
  } catch (error) {
    // A browser may refuse OPFS (SecurityError in some private modes): the
    // bounded memory sink is the documented fallback for exactly that case.
    if (error instanceof DOMException && error.name === 'SecurityError') return undefined;
    throw error;
  }
}

async function removeFolder(root: FileSystemDirectoryHandle): Promise<void> {
  try {
    await root.removeEntry(FOLDER, { recursive: true });
  } catch (error) {
    // Nothing was ever downloaded on this origin: nothing to remove.
    if (!(error instanceof DOMException && error.name === 'NotFoundError')) throw error;
  }
}

async function openFolder(): Promise<FileSystemDirectoryHandle | undefined> {
  const root = await opfsRoot();
  if (root === undefined) return undefined;
  await removeFolder(root);
  return root.getDirectoryHandle(FOLDER, { create: true });
}

/**
 * Deletes every downloaded (decrypted) attachment file: part of wiping a
 * logged-out profile, which must leave no plaintext behind.
 */
export async function removeDownloadedFiles(): Promise<void> {
  const root = await opfsRoot();
  if (root !== undefined) await removeFolder(root);
}

function randomName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function fileSink(folder: FileSystemDirectoryHandle): Promise<DownloadFile> {
  // A random name, never the sender's file name (untrusted, and it only
  // matters for the link's `download` attribute).
  const name = randomName();
  const handle = await folder.getFileHandle(name, { create: true });
  const stream = await handle.createWritable();
  let file: File | undefined;
  return {
    // Decrypted chunks are plain ArrayBuffer-backed arrays (WebCrypto output).
    write: (chunk) => stream.write(chunk as Uint8Array<ArrayBuffer>),
    commit: async () => {
      await stream.close();
      file = await handle.getFile();
    },
    abort: async () => {
      try {
        await stream.abort();
      } catch (error) {
        // abort() rejects only on a stream already closed or errored; the
        // entry is removed below either way, which is what leaves no file.
        if (!(error instanceof TypeError || error instanceof DOMException)) throw error;
      }
      await folder.removeEntry(name);
    },
    result: () => {
      if (file === undefined) throw new Error('the download was not committed');
      return file;
    },
  };
}

function memorySink(mimeType: string, size: number): DownloadFile {
  if (size > MEMORY_FALLBACK_LIMIT) {
    throw new DownloadStorageError(
      'too-large-for-memory',
      `this browser has no file storage for downloads; files over ${MEMORY_FALLBACK_LIMIT / 1024 / 1024} MiB cannot be opened here`,
    );
  }
  let parts: Uint8Array<ArrayBuffer>[] = [];
  let blob: Blob | undefined;
  return {
    write: async (chunk) => void parts.push(chunk as Uint8Array<ArrayBuffer>),
    commit: async () => {
      blob = new Blob(parts, { type: mimeType });
      parts = [];
    },
    abort: async () => {
      parts = [];
    },
    result: () => {
      if (blob === undefined) throw new Error('the download was not committed');
      return blob;
    },
  };
}
