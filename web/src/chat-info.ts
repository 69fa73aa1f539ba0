/**
 * What the app shows about a chat besides its messages: the title (the
 * peer's account name, or a group's name from the verified membership
 * chain this device stores) and, for a group, whether this account may set
 * its disappearing timer (admins only; receivers refuse anyone else's).
 */
import { isGroupChat, parseGroupId, type DeviceStore } from '../../src/sdk/browser.js';

/** A chat's title and kind. */
export interface ChatInfo {
  readonly chat: string;
  readonly title: string;
  /** Set for a group chat. */
  readonly group?: {
    /** This account is an admin (may set the timer). */
    readonly admin: boolean;
  };
}

/** The info of `chat` for the account `self`, from the store. */
export async function chatInfo(store: DeviceStore, chat: string, self: string): Promise<ChatInfo> {
  if (!isGroupChat(chat)) return { chat, title: chat };
  const head = await store.groups.getHead(parseGroupId(chat));
  const me = head?.change.members.find((m) => m.account === self);
  return {
    chat,
    title: groupTitle(head?.change.name),
    group: { admin: me?.admin === true },
  };
}

/** The title of `chat` alone (the chat list's rows). */
export async function chatTitle(store: DeviceStore, chat: string): Promise<string> {
  if (!isGroupChat(chat)) return chat;
  return groupTitle((await store.groups.getHead(parseGroupId(chat)))?.change.name);
}

/** A group this device has not verified yet has no name to show. */
function groupTitle(name: string | undefined): string {
  return name === undefined || name === '' ? 'Group' : name;
}
