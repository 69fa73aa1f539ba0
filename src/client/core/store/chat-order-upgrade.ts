/**
 * The one-time upgrade that builds the `chat-order` table for a profile
 * written before it existed. Such a profile holds its messages only in
 * `messages` (keyed chat / id, so in no useful order), and every reader of
 * `chat-order` — `quintet history`, the archive a primary builds for a new
 * companion, the bootstrap's contact list — would see its old messages as
 * missing.
 *
 * Bounded: the messages are walked in key order `batch` at a time; each
 * batch's index rows and the walk's cursor are one atomic commit, so memory
 * is one batch whatever the profile's size. Resumable: an interrupted
 * upgrade (crash, closed tab) restarts after the last committed batch.
 * Idempotent: a row that already exists (written by `MessageStore.put`
 * since) is left alone, and a finished upgrade is a single read.
 *
 * Pure module: reaches storage only through `KeyValueBackend`.
 */
import { ClientError } from '../errors.js';
import { chatOrderKey, TABLES } from './client-stores.js';
import type { KeyValueBackend, KeyValueWrite } from './kv.js';
import { decodeStoredMessage } from './records.js';

/** Messages indexed per commit. */
export const CHAT_ORDER_UPGRADE_BATCH = 500;

/** The upgrade's slot in `TABLES.upgrades`. */
const UPGRADE_KEY = 'chat-order';
/** Slot value once finished; otherwise "after:" + the last messages key indexed. */
const DONE = 'done';
const AFTER = 'after:';

/** What one run of the upgrade did. */
export interface ChatOrderUpgradeResult {
  /** Index rows written by this run (0 when it had already finished). */
  readonly indexed: number;
}

export interface ChatOrderUpgradeOptions {
  /** Messages per commit (default `CHAT_ORDER_UPGRADE_BATCH`). */
  readonly batch?: number;
  /** After each committed batch: how many messages this run has walked. */
  readonly onBatch?: (walked: number) => void;
}

/** Builds `chat-order` for the messages that lack it; see the module comment. */
export async function upgradeChatOrder(
  backend: KeyValueBackend,
  options: ChatOrderUpgradeOptions = {},
): Promise<ChatOrderUpgradeResult> {
  const batch = options.batch ?? CHAT_ORDER_UPGRADE_BATCH;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new ClientError('invalid-argument', 'the upgrade batch must be a positive integer');
  }
  let after = await readCursor(backend);
  if (after === DONE) return { indexed: 0 };
  let indexed = 0;
  let walked = 0;
  for (;;) {
    const rows = await backend.listPage(TABLES.messages, '', after, batch);
    const last = rows[rows.length - 1];
    if (last === undefined) break;
    const writes: KeyValueWrite[] = [];
    for (const row of rows) {
      // A record that does not parse throws ClientError('invalid-record')
      // and stops the upgrade where it is: local corruption is reported,
      // not papered over with an index that silently lacks a message.
      const key = chatOrderKey(decodeStoredMessage(row.value));
      // Already indexed (put by `MessageStore.put`, or by an earlier run
      // whose cursor write was the part that failed): keep that row.
      if ((await backend.get(TABLES.chatOrder, key)) !== undefined) continue;
      writes.push({ table: TABLES.chatOrder, key, value: row.value });
      indexed++;
    }
    after = last.key;
    writes.push({ table: TABLES.upgrades, key: UPGRADE_KEY, value: encode(`${AFTER}${after}`) });
    await backend.commit(writes);
    walked += rows.length;
    options.onBatch?.(walked);
    if (rows.length < batch) break;
  }
  await backend.commit([{ table: TABLES.upgrades, key: UPGRADE_KEY, value: encode(DONE) }]);
  return { indexed };
}

/** `DONE`, the cursor to resume after, or undefined to start from the first message. */
async function readCursor(backend: KeyValueBackend): Promise<string | undefined> {
  const bytes = await backend.get(TABLES.upgrades, UPGRADE_KEY);
  if (bytes === undefined) return undefined;
  const text = new TextDecoder().decode(bytes);
  if (text === DONE) return DONE;
  if (text.startsWith(AFTER)) return text.slice(AFTER.length);
  throw new ClientError('invalid-record', 'the stored chat-order upgrade state is damaged');
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
