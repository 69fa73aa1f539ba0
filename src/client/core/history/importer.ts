/**
 * The companion's side of history sync: downloads the archive the primary
 * pointed to, verifies it frame by frame (archive-format.ts), and imports it
 * in batches, each batch one store transaction that also advances the
 * persisted import record — so a restart resumes after the last committed
 * batch, and nothing is imported twice.
 *
 * Live messages keep arriving meanwhile through the receiver. Both write
 * the same keys (chat / message id, and chat / sent time / id in the
 * ordered table), and the importer skips ids already stored, so a message
 * that is both live and in the archive is stored once, in time order.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  HistoryImportRecordSchema,
  type HistoryImportRecord,
} from '../../../gen/quintet/v1/client_store_pb.js';
import type { HistorySyncNotification } from '../../../gen/quintet/v1/content_pb.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { sameBytes } from '../bytes.js';
import { adoptTimer, storeNewMessage } from '../chat/chat-apply.js';
import { DEFAULT_CHAT_RULES } from '../chat/chat-rules.js';
import { mergeMessage } from '../chat/chat-state.js';
import { errorCode, type ClientEvent, type HistorySyncEvent } from '../events.js';
import type { DeviceStore, DeviceStoreView } from '../store/device-store.js';
import {
  decodeRecords,
  decryptArchive,
  HashingTap,
  type ArchiveItem,
  type Compressor,
} from './archive-format.js';
import { HistoryError } from './errors.js';

/** The blob operations history needs (`BlobClient` satisfies it). */
export interface HistoryBlobs {
  upload(
    body: AsyncIterable<Uint8Array> | Uint8Array,
    size: number,
    kind: 'attachment' | 'archive',
    onProgress?: (sent: number) => void,
  ): Promise<{ id: string }>;
  download(
    id: string,
    options?: { offset?: number; onProgress?: (received: number) => void },
  ): AsyncIterable<Uint8Array>;
  /** With `kind`, deletes only a blob of that kind (`not-found` otherwise). */
  delete(id: string, kind?: 'attachment' | 'archive'): Promise<void>;
}

/** What history sync needs from the host: the blob store and a compressor. */
export interface HistoryServices {
  readonly blobs: HistoryBlobs;
  readonly compressor: Compressor;
}

/** The settings slot of the import in progress. */
export const IMPORT_SETTING = 'history-import';
/** Messages per import transaction. */
export const IMPORT_BATCH = 500;

/** Persists a new import from a verified notification (inside the receiver's transaction). */
export async function recordImport(
  tx: DeviceStoreView,
  notification: HistorySyncNotification,
): Promise<void> {
  const record = create(HistoryImportRecordSchema, {
    blobId: notification.blobId,
    key: notification.key,
    ciphertextSha256: notification.ciphertextSha256,
    size: notification.size,
    messageCount: notification.messageCount,
    imported: 0,
    oldest: notification.oldest,
    newest: notification.newest,
  });
  await tx.settings.put(IMPORT_SETTING, toBinary(HistoryImportRecordSchema, record));
}

async function loadImport(store: DeviceStoreView): Promise<HistoryImportRecord | undefined> {
  const bytes = await store.settings.get(IMPORT_SETTING);
  if (bytes === undefined) return undefined;
  try {
    return fromBinary(HistoryImportRecordSchema, bytes);
  } catch (error) {
    throw new HistoryError('corrupt', 'the stored history import does not parse', {
      cause: error,
    });
  }
}

/** Failures that a later attempt cannot fix: the import is abandoned. */
function isPermanent(error: unknown): boolean {
  if (HistoryError.is(error)) return error.code !== 'blob-failed';
  const code = errorCode(error);
  return code === 'not-found' || code === 'unauthorized' || code === 'bad-request';
}

function progressEvent(
  phase: HistorySyncEvent['phase'],
  record: HistoryImportRecord,
  messages: number,
  bytes: number,
  extra: { code?: string; reason?: string } = {},
): HistorySyncEvent {
  const total = record.messageCount;
  return {
    type: 'history-sync',
    phase,
    messages,
    totalMessages: total,
    bytes,
    totalBytes: Number(record.size),
    percent: total === 0 ? 100 : Math.min(100, Math.floor((messages * 100) / total)),
    ...extra,
  };
}

/** Runs (or resumes) the import recorded in the store; one at a time. */
export class HistoryImporter {
  #running: Promise<void> | undefined;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly services: HistoryServices | undefined,
    private readonly emit: (event: ClientEvent) => void,
  ) {}

  /** Starts the recorded import unless one is running; resolves when it ends. */
  run(): Promise<void> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<void> {
    const record = await loadImport(this.store);
    if (record === undefined) return;
    const services = this.services;
    if (services === undefined) {
      this.emit(
        progressEvent('failed', record, record.imported, 0, {
          code: 'blob-failed',
          reason: 'this client has no blob store access; the import waits for one that has',
        }),
      );
      return;
    }
    let imported = record.imported;
    let bytes = 0;
    this.emit(progressEvent('started', record, imported, 0));
    try {
      await this.#import(services, record, (count, received) => {
        imported = count;
        bytes = received;
        this.emit(progressEvent('progress', record, count, received));
      });
    } catch (error) {
      const permanent = isPermanent(error);
      if (permanent) {
        await this.store.settings.delete(IMPORT_SETTING);
        // Refused for good (bad MAC, wrong key, changed or cut bytes): nobody
        // will import this archive, so it leaves the server now, not at its 24 h
        // expiry. The pointer came from this account's primary (checked in
        // history-receive.ts), whose blob this device may delete.
        if (HistoryError.is(error)) await this.#deleteArchive(services, record.blobId);
      }
      this.emit(
        progressEvent('failed', record, imported, bytes, {
          code: errorCode(error),
          reason:
            (error instanceof Error ? error.message : 'the import failed') +
            (permanent ? '' : '; it resumes on the next start'),
        }),
      );
      return;
    }
    // The archive is in the store: the blob has served its purpose.
    await this.#deleteArchive(services, record.blobId);
    await this.store.settings.delete(IMPORT_SETTING);
    this.emit(progressEvent('done', record, imported, bytes));
  }

  /**
   * Deletes the blob of an archive this device refused before recording it
   * (history-receive.ts decides which refusals name a blob it may delete).
   */
  async discard(blobId: string): Promise<void> {
    if (this.services !== undefined) await this.#deleteArchive(this.services, blobId);
  }

  /**
   * Deletes an archive blob, as an archive only: a pointer naming one of
   * the account's attachments deletes nothing. A failed delete only leaves
   * the blob to the server's 24 h expiry, so it is reported, not thrown; a
   * blob already gone is what was wanted.
   */
  async #deleteArchive(services: HistoryServices, blobId: string): Promise<void> {
    try {
      await services.blobs.delete(blobId, 'archive');
    } catch (error) {
      if (errorCode(error) === 'not-found') return;
      this.emit({
        type: 'error',
        code: errorCode(error),
        message: 'a history archive could not be deleted from the server',
      });
    }
  }

  async #import(
    services: HistoryServices,
    record: HistoryImportRecord,
    progress: (messages: number, bytes: number) => void,
  ): Promise<void> {
    const tap = new HashingTap();
    let received = 0;
    let download: AsyncIterable<Uint8Array>;
    try {
      download = services.blobs.download(record.blobId, {
        onProgress: (n) => {
          received = n;
        },
      });
    } catch (error) {
      throw new HistoryError('blob-failed', 'the archive could not be downloaded', {
        cause: error,
      });
    }
    const items = decodeRecords(
      services.compressor.decompress(
        decryptArchive(this.ctx.crypto, record.key, tap.tap(download)),
      ),
    );
    let index = 0;
    let batch: ArchiveItem[] = [];
    const flush = async (): Promise<void> => {
      const items = batch;
      batch = [];
      const upTo = index;
      await this.store.transaction(async (tx) => {
        for (const { message, readAt } of items) {
          // Already here (arrived live, or an earlier attempt): keep the
          // stored copy, which may carry newer receipts, joined with the
          // archive's chat state (edits, reactions, deletion; chat/).
          await tx.lockChat(message.chat);
          const here = await tx.messages.get(message.chat, message.id);
          if (here === undefined) {
            const env = { now: this.ctx.clock.now(), rules: DEFAULT_CHAT_RULES };
            await storeNewMessage(tx, message, env);
            if (message.timerChange !== undefined) await adoptTimer(tx, message);
          } else {
            const merged = mergeMessage(here, message);
            if (merged !== here) await tx.messages.put(merged);
          }
          if (readAt > 0 && (await tx.read.readAt(message.chat, message.id)) === undefined) {
            await tx.read.markRead(message.chat, message.id, readAt);
          }
        }
        await tx.settings.put(
          IMPORT_SETTING,
          toBinary(HistoryImportRecordSchema, { ...record, imported: upTo }),
        );
      });
      progress(upTo, received);
    };
    for await (const item of items) {
      index++;
      // Committed by an earlier run of this import.
      if (index <= record.imported) continue;
      batch.push(item);
      if (batch.length >= IMPORT_BATCH) await flush();
    }
    if (batch.length > 0 || index > record.imported) await flush();
    if (tap.bytes !== Number(record.size) || !sameBytes(tap.digest(), record.ciphertextSha256)) {
      throw new HistoryError('bad-hash', 'the archive differs from the one the primary announced');
    }
  }
}
