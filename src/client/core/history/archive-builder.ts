/**
 * The primary's side of history sync: reads its stored messages chat by
 * chat, a page at a time, and turns them into the encrypted archive
 * (archive-format.ts) under a fresh one-time key.
 *
 * The blob API needs the size up front (Content-Length), so the finished
 * ciphertext is held as its frames until the upload: it is the compressed
 * size (a few MB for 50,000 messages), never the plaintext.
 */
import type { ProtocolContext } from '../../../protocol/context.js';
import type { DeviceStore } from '../store/device-store.js';
import { isVisible } from '../chat/chat-state.js';
import {
  encodeRecords,
  encryptArchive,
  HashingTap,
  type ArchiveItem,
  type Compressor,
} from './archive-format.js';

import type { HistoryChoice } from './history-choice.js';

export { DEFAULT_HISTORY, parseHistoryChoice, type HistoryChoice } from './history-choice.js';

const DAY_MS = 86_400_000;

/** The first sent time an archive includes (0: everything). */
export function historySince(choice: Exclude<HistoryChoice, 'none'>, now: number): number {
  return choice === 'all' ? 0 : Math.max(0, now - choice.days * DAY_MS);
}

/** A built archive ready to upload, and what its notification says. */
export interface BuiltArchive {
  readonly key: Uint8Array;
  readonly frames: readonly Uint8Array[];
  readonly size: number;
  readonly sha256: Uint8Array;
  readonly messageCount: number;
  readonly oldest: number;
  readonly newest: number;
}

const PAGE = 500;

/** The messages an archive carries: every chat, oldest first, sent at or after `since`. */
async function* archiveItems(
  store: DeviceStore,
  since: number,
  now: number,
  seen: { count: number; oldest: number; newest: number },
): AsyncIterable<ArchiveItem> {
  let after: string | undefined;
  for (;;) {
    const page = await store.messages.page(undefined, {
      limit: PAGE,
      ...(after === undefined ? {} : { after }),
    });
    for (const message of page.messages) {
      if (message.sentAt < since) continue;
      // Deleted (for everyone or for this account) and expired messages
      // never reach a new device, not even as marks (chat/chat-state.ts).
      if (!isVisible(message, now)) continue;
      const readAt = (await store.read.readAt(message.chat, message.id)) ?? 0;
      seen.count++;
      seen.oldest = seen.count === 1 ? message.sentAt : Math.min(seen.oldest, message.sentAt);
      seen.newest = Math.max(seen.newest, message.sentAt);
      yield { message, readAt };
    }
    if (page.next === undefined) return;
    after = page.next;
  }
}

/** Builds the encrypted archive of the messages sent at or after `since` (ms). */
export async function buildArchive(
  ctx: ProtocolContext,
  store: DeviceStore,
  compressor: Compressor,
  since: number,
): Promise<BuiltArchive> {
  const key = ctx.random(32);
  const seen = { count: 0, oldest: 0, newest: 0 };
  const tap = new HashingTap();
  const frames: Uint8Array[] = [];
  const blob = encryptArchive(
    ctx.crypto,
    key,
    compressor.compress(encodeRecords(archiveItems(store, since, ctx.clock.now(), seen))),
  );
  for await (const frame of tap.tap(blob)) frames.push(frame);
  return {
    key,
    frames,
    size: tap.bytes,
    sha256: tap.digest(),
    messageCount: seen.count,
    oldest: seen.oldest,
    newest: seen.newest,
  };
}
