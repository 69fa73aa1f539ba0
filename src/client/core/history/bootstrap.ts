/**
 * Bootstrap state (docs/history.md): what a newly linked companion needs to
 * work at once — group memberships, contacts, read states, shared settings
 * — sent by the approving primary whether or not history follows.
 *
 * The companion applies it inside the receiver's transaction (groups are
 * fetched and verified from the server afterwards, client.ts):
 * - contacts become entries of its contact store, so its chat list shows
 *   the account's 1:1 chats before any message arrives;
 * - a chat's read state (the newest time a message of it was read on the
 *   primary) is kept per chat as the companion's read marker. It marks read
 *   every incoming message of that chat the companion already holds that
 *   was sent at or before it — those that arrived live between the link and
 *   the bootstrap — and every one that arrives live later with such a sent
 *   time (`markReadByMarker`, called by the receiver): a message still
 *   queued for the companion when the bootstrap came, which the primary had
 *   already shown and read. Imported messages carry their own read time in
 *   the archive, and reads after the bootstrap arrive as read syncs. The
 *   marker goes by sent time, so a message that reached the primary only
 *   after that read (held up on its way) also counts as read here;
 * - settings: only names under `shared.` travel and are applied. Nothing in
 *   this version writes one yet; the local ones (PIN hash, PIN failures,
 *   the import in progress, the browser's read marks) never travel, so a
 *   primary cannot overwrite a companion's secrets through bootstrap.
 *
 * Entries that break a rule or a bound are skipped and counted, never
 * thrown: a bad entry must not cost the companion the rest of the state.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { BootstrapState, BootstrapStateSchema } from '../../../gen/quintet/v1/content_pb.js';
import { isValidAccountName } from '../../../wire/account-name.js';
import { groupIdToBytes, isGroupChat } from '../groups/group-id.js';
import type { DeviceStore, DeviceStoreView } from '../store/device-store.js';
import type { StoredMessage } from '../store/records.js';

/** Settings whose names start with this are account-wide: they travel in bootstrap state. */
export const SHARED_SETTING_PREFIX = 'shared.';

/**
 * Bounds of one bootstrap state. The envelope size limit already bounds the
 * whole, these keep each part to what a real account has, so a faulty
 * primary cannot fill a companion's store with one message.
 */
export const BOOTSTRAP_LIMITS = {
  contacts: 10_000,
  readStates: 10_000,
  settings: 64,
  settingBytes: 4096,
} as const;

/** What `applyBootstrap` applied, and how many entries it skipped as invalid. */
export interface BootstrapApplied {
  readonly contacts: number;
  readonly readChats: number;
  /** Messages already on the companion marked read by a chat's read state. */
  readonly markedRead: number;
  readonly settings: number;
  readonly skipped: number;
}

/** The settings slot of a chat's read state on a companion. */
export function readStateSetting(chat: string): string {
  return `read-state/${chat}`;
}

/** The read marker the bootstrap left for `chat` (ms), if any. */
export async function readMarker(tx: DeviceStoreView, chat: string): Promise<number | undefined> {
  const bytes = await tx.settings.get(readStateSetting(chat));
  if (bytes?.length !== 8) return undefined;
  const at = new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, false);
  return Number.isSafeInteger(at) ? at : undefined;
}

/**
 * Marks read the incoming ones of `messages` (just stored live, in the
 * receiver's transaction) sent at or before their chat's read marker.
 * Returns how many it marked.
 */
export async function markReadByMarker(
  tx: DeviceStoreView,
  messages: readonly StoredMessage[],
): Promise<number> {
  let marked = 0;
  for (const message of messages) {
    if (message.outgoing) continue;
    const at = await readMarker(tx, message.chat);
    if (at === undefined || message.sentAt > at) continue;
    if ((await tx.read.readAt(message.chat, message.id)) !== undefined) continue;
    await tx.read.markRead(message.chat, message.id, at);
    marked++;
  }
  return marked;
}

/** Builds the bootstrap state from the primary's store. */
export async function buildBootstrap(
  store: DeviceStore,
  self: string,
  history: { offered: boolean; since: number },
): Promise<MessageInitShape<typeof BootstrapStateSchema>> {
  const groups = await store.groups.listGroups();
  const known = new Set([...(await store.messages.chats()), ...(await store.contacts.list())]);
  const contacts = [...known]
    .filter((chat) => !isGroupChat(chat) && chat !== self)
    .sort()
    .slice(0, BOOTSTRAP_LIMITS.contacts);
  const readStates = [...(await store.read.latestPerChat())]
    .slice(0, BOOTSTRAP_LIMITS.readStates)
    .map(([chat, at]) => ({ chat, lastReadAt: BigInt(Math.floor(at)) }));
  const settings: Record<string, Uint8Array> = {};
  const shared = await store.settings.list(SHARED_SETTING_PREFIX);
  for (const { name, value } of shared.slice(0, BOOTSTRAP_LIMITS.settings)) {
    if (value.length <= BOOTSTRAP_LIMITS.settingBytes) settings[name] = value;
  }
  return {
    groupIds: groups.map((id) => groupIdToBytes(id)),
    contacts,
    readStates,
    settings,
    historyOffered: history.offered,
    historySince: BigInt(history.since),
  };
}

/** Marks read the incoming messages of `chat` sent at or before `at`; returns how many. */
async function markReadUpTo(tx: DeviceStoreView, chat: string, at: number): Promise<number> {
  let marked = 0;
  let after: string | undefined;
  for (;;) {
    const page = await tx.messages.page(chat, {
      limit: 500,
      ...(after === undefined ? {} : { after }),
    });
    for (const message of page.messages) {
      // Pages are in sent-time order: nothing later can be covered.
      if (message.sentAt > at) return marked;
      if (message.outgoing || (await tx.read.readAt(chat, message.id)) !== undefined) continue;
      await tx.read.markRead(chat, message.id, at);
      marked++;
    }
    if (page.next === undefined) return marked;
    after = page.next;
  }
}

/** Applies contacts, read states and shared settings (inside the receiver's transaction). */
export async function applyBootstrap(
  tx: DeviceStoreView,
  state: BootstrapState,
  self: string,
): Promise<BootstrapApplied> {
  let skipped = 0;
  let contacts = 0;
  for (const [index, account] of state.contacts.entries()) {
    if (index >= BOOTSTRAP_LIMITS.contacts || !isValidAccountName(account) || account === self) {
      skipped++;
      continue;
    }
    await tx.contacts.add(account);
    contacts++;
  }
  let readChats = 0;
  let markedRead = 0;
  for (const [index, read] of state.readStates.entries()) {
    const at = Number(read.lastReadAt);
    const chatValid = isValidAccountName(read.chat) || isGroupChat(read.chat);
    if (index >= BOOTSTRAP_LIMITS.readStates || !chatValid || !Number.isSafeInteger(at)) {
      skipped++;
      continue;
    }
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, at, false);
    await tx.settings.put(readStateSetting(read.chat), bytes);
    markedRead += await markReadUpTo(tx, read.chat, at);
    readChats++;
  }
  let settings = 0;
  for (const [name, value] of Object.entries(state.settings)) {
    // Only shared names: the PIN hash and other local state never come from
    // another device, and a bounded number of small values.
    if (
      !name.startsWith(SHARED_SETTING_PREFIX) ||
      settings >= BOOTSTRAP_LIMITS.settings ||
      value.length > BOOTSTRAP_LIMITS.settingBytes
    ) {
      skipped++;
      continue;
    }
    await tx.settings.put(name, value);
    settings++;
  }
  return { contacts, readChats, markedRead, settings, skipped };
}
