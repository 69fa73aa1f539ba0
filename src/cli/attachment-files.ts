/**
 * Attachments on the local file system: a file as an `AttachmentSource`
 * (streamed, never read whole), a folder as the `AttachmentSink` of a
 * download (a hidden temporary file, renamed into place only after every
 * check passed, so a tampered download leaves no file), and the blob client
 * for a session's server.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import {
  type AttachmentSink,
  type AttachmentSource,
  MAX_THUMBNAIL_BYTES,
  safeFileName,
} from '../sdk/index.js';
import { CliError } from './cli-error.js';

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.mp4': 'video/mp4',
  '.mov': 'video/quicktime',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.pdf': 'application/pdf',
  '.txt': 'text/plain',
  '.zip': 'application/zip',
  '.json': 'application/json',
};

/** The MIME type of a file name by its extension; octet-stream when unknown. */
export function mimeTypeOf(path: string): string {
  return MIME_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

const READ_CHUNK = 256 * 1024;
const WRITE_BATCH = 1024 * 1024;

/**
 * A file to send. Images small enough travel as their own thumbnail; larger
 * ones get none (making one needs an image codec, a native dependency).
 */
export async function fileSource(path: string): Promise<AttachmentSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new CliError(`not a regular file: ${path}`);
    size = info.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read the file ${path}: it does not exist or is not readable`);
  }
  const mimeType = mimeTypeOf(path);
  const thumbnail =
    (mimeType === 'image/jpeg' || mimeType === 'image/png') && size <= MAX_THUMBNAIL_BYTES
      ? new Uint8Array(await readFile(path))
      : undefined;
  return {
    size,
    fileName: basename(path),
    mimeType,
    ...(thumbnail !== undefined ? { thumbnail } : {}),
    async *read() {
      for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK })) {
        const buffer = chunk as Buffer;
        yield new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      }
    },
  };
}

/** A download into `dir`; `path` is where the file is once committed. */
export interface FileSink extends AttachmentSink {
  readonly path: () => string;
}

/**
 * Writes into a hidden temporary file in `dir` and renames it to a free
 * name (`photo.jpg`, `photo (1).jpg`, …) only on commit; abort deletes it.
 */
export async function fileSink(dir: string, fileName: string): Promise<FileSink> {
  await mkdir(dir, { recursive: true });
  const name = safeFileName(fileName);
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.part`);
  const handle: FileHandle = await open(temp, 'wx', 0o600);
  let final = '';
  let closed = false;
  // Network chunks are small (tens of KiB): one writev per ~1 MiB instead of
  // one thread-pool write per chunk.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    await handle.writev(batch);
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    path: () => final,
    async write(chunk) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_BATCH) await flush();
    },
    async commit() {
      await flush();
      await handle.sync();
      await close();
      final = await publish(temp, dir, name);
    },
    async abort() {
      await close();
      await rm(temp, { force: true });
    },
  };
}

/**
 * Gives the finished temporary file its name: a hard link fails with EEXIST
 * instead of replacing, so an existing file is never overwritten even when
 * two downloads finish at once.
 */
async function publish(temp: string, dir: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem} (${n})${ext}`);
    try {
      await link(temp, candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    await rm(temp, { force: true });
    return candidate;
  }
}

/** The blob API's base URL for a WebSocket server URL: same origin, http(s). */
export function blobBaseUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.origin;
}
