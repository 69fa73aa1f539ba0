/**
 * The approving primary's side (docs/history.md): once the new companion
 * is in the account's verified device list, send it the bootstrap state,
 * then — unless history was declined — build, upload and point it to the
 * archive. A failure of the archive is reported to the companion (so it
 * stops waiting) and to the caller; it never undoes the link.
 */
import type { ProtocolContext } from '../../../protocol/context.js';
import type { DeviceDirectory } from '../devices/device-directory.js';
import { errorCode } from '../events.js';
import type { Outbox } from '../outbox.js';
import type { DeviceStore } from '../store/device-store.js';
import { buildArchive, historySince, type HistoryChoice } from './archive-builder.js';
import { buildBootstrap } from './bootstrap.js';
import { HistoryError } from './errors.js';
import type { HistoryServices } from './importer.js';

/** Where the primary's history send is (for a progress line). */
export interface PrimaryHistoryProgress {
  readonly phase: 'waiting' | 'bootstrap' | 'building' | 'uploading' | 'sent';
  readonly messages?: number;
  readonly bytes?: number;
  readonly totalBytes?: number;
}

/** What was sent. */
export interface PrimaryHistoryResult {
  readonly bootstrap: true;
  /** The archive's message count, or undefined when declined. */
  readonly messages?: number;
  readonly bytes?: number;
  /** Set when the archive failed (the companion was told). */
  readonly error?: string;
}

export interface PrimarySyncDeps {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly directory: DeviceDirectory;
  readonly outbox: Outbox;
  readonly self: string;
  readonly services: HistoryServices | undefined;
  readonly sleep: (ms: number) => Promise<void>;
}

/** Waits until `deviceId` is a verified device of the own account (it completed its link). */
async function waitForDevice(
  deps: PrimarySyncDeps,
  deviceId: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = deps.ctx.clock.now() + timeoutMs;
  for (;;) {
    deps.directory.invalidate(deps.self);
    const view = await deps.directory.refresh(deps.self);
    if ([...view.accepted.values()].some((device) => device.deviceId === deviceId)) return;
    if (deps.ctx.clock.now() >= deadline) {
      throw new HistoryError(
        'source-failed',
        `device ${deviceId} did not complete its link in time; nothing was sent to it`,
      );
    }
    await deps.sleep(250);
  }
}

/** Sends bootstrap state and (unless `none`) history to the companion `deviceId`. */
export async function sendHistoryToCompanion(
  deps: PrimarySyncDeps,
  deviceId: number,
  choice: HistoryChoice,
  options: { timeoutMs?: number; onProgress?: (progress: PrimaryHistoryProgress) => void } = {},
): Promise<PrimaryHistoryResult> {
  const progress = options.onProgress ?? (() => undefined);
  progress({ phase: 'waiting' });
  await waitForDevice(deps, deviceId, options.timeoutMs ?? 300_000);
  const offered = choice !== 'none' && deps.services !== undefined;
  const since = choice === 'none' ? 0 : historySince(choice, deps.ctx.clock.now());
  progress({ phase: 'bootstrap' });
  const state = await buildBootstrap(deps.store, deps.self, { offered, since });
  await deps.outbox.sendToOwnDevice(deviceId, {
    body: { case: 'bootstrapState', value: state },
  });
  if (!offered || deps.services === undefined) return { bootstrap: true };
  const services = deps.services;
  try {
    progress({ phase: 'building' });
    const archive = await buildArchive(deps.ctx, deps.store, services.compressor, since);
    progress({ phase: 'uploading', messages: archive.messageCount, totalBytes: archive.size });
    async function* frames(): AsyncIterable<Uint8Array> {
      yield* archive.frames;
    }
    const uploaded = await services.blobs.upload(frames(), archive.size, 'archive', (sent) =>
      progress({
        phase: 'uploading',
        messages: archive.messageCount,
        bytes: sent,
        totalBytes: archive.size,
      }),
    );
    await deps.outbox.sendToOwnDevice(deviceId, {
      body: {
        case: 'historySync',
        value: {
          blobId: uploaded.id,
          key: archive.key,
          ciphertextSha256: archive.sha256,
          size: BigInt(archive.size),
          messageCount: archive.messageCount,
          oldest: BigInt(archive.oldest),
          newest: BigInt(archive.newest),
        },
      },
    });
    progress({ phase: 'sent', messages: archive.messageCount, bytes: archive.size });
    return { bootstrap: true, messages: archive.messageCount, bytes: archive.size };
  } catch (error) {
    // Tell the companion, so it stops waiting and works without history.
    const reason = `${errorCode(error)}: ${error instanceof Error ? error.message : 'archive failed'}`;
    await deps.outbox.sendToOwnDevice(deviceId, {
      body: { case: 'historySync', value: { error: reason } },
    });
    return { bootstrap: true, error: reason };
  }
}
