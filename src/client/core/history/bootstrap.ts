/**
 * Bootstrap state (docs/history.md): what a newly linked companion needs to
 * work at once — group memberships, contacts, read states, shared settings
 * — sent by the approving primary whether or not history follows.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { BootstrapState, BootstrapStateSchema } from '../../../gen/quintet/v1/content_pb.js';
import { groupIdToBytes, isGroupChat } from '../groups/group-id.js';
import type { DeviceStore, DeviceStoreView } from '../store/device-store.js';

/** Settings that are account-wide and safe to share (none are yet; the PIN hash never is). */
const SHARED_SETTINGS: readonly string[] = [];

/** The settings slot of a chat's read state on a companion. */
export function readStateSetting(chat: string): string {
  return `read-state/${chat}`;
}

/** Builds the bootstrap state from the primary's store. */
export async function buildBootstrap(
  store: DeviceStore,
  self: string,
  history: { offered: boolean; since: number },
): Promise<MessageInitShape<typeof BootstrapStateSchema>> {
  const groups = await store.groups.listGroups();
  const chats = await store.messages.chats();
  const contacts = chats.filter((chat) => !isGroupChat(chat) && chat !== self);
  const readStates = [...(await store.read.latestPerChat())].map(([chat, at]) => ({
    chat,
    lastReadAt: BigInt(Math.floor(at)),
  }));
  const settings: Record<string, Uint8Array> = {};
  for (const name of SHARED_SETTINGS) {
    const value = await store.settings.get(name);
    if (value !== undefined) settings[name] = value;
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

/** Stores what of a bootstrap state lives in the device store (read states, settings). */
export async function applyBootstrap(tx: DeviceStoreView, state: BootstrapState): Promise<void> {
  for (const read of state.readStates) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, Number(read.lastReadAt), false);
    await tx.settings.put(readStateSetting(read.chat), bytes);
  }
  for (const [name, value] of Object.entries(state.settings)) {
    // Only names this version shares: a primary cannot overwrite local
    // secrets (the PIN hash) of the companion through bootstrap.
    if (SHARED_SETTINGS.includes(name)) await tx.settings.put(name, value);
  }
}
