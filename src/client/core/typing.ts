/**
 * Typing indicators (docs/protocol.md "Typing indicators"): a
 * `TypingMessage` content sent in an ephemeral envelope, which the server
 * pushes only to devices connected right now and never stores. In a 1:1
 * chat it goes to every verified device of the peer and, naming the chat,
 * to this account's other devices, so they show "typing…" nowhere for
 * their own account but know the chat is active. In a group it names the
 * group and goes under the sender key to the current member devices,
 * this account's other devices included (groups/group-typing.ts).
 *
 * Nothing of it is stored: no message record, no retry copy, no processed
 * mark, no ack. The receiving application shows it until `expiresAt` or a
 * `stopped`, whichever comes first.
 *
 * A device setting (`typing-indicators`, default on) turns it off both
 * ways: when off, this device neither sends its own indicators nor reports
 * anyone else's.
 */
import type { ProtocolContext } from '../../protocol/context.js';
import { TypingMessage_Action, type TypingMessage } from '../../gen/quintet/v1/content_pb.js';
import { encodeContent } from './content.js';
import { ClientError } from './errors.js';
import { isGroupChat, parseGroupId, type GroupId } from './groups/group-id.js';
import type { SessionManager } from './session-manager.js';
import type { SettingsStore } from './store/client-stores.js';

/** The settings-store entry: one byte, 1 on, 0 off; absent means on. */
export const TYPING_SETTING = 'typing-indicators';

/** How long a `started` is shown without a newer indicator (the sender repeats it meanwhile). */
export const TYPING_EXPIRY_MS = 15_000;

/** The `typing` event: someone is (or stopped) typing in a chat. */
export interface TypingEvent {
  readonly type: 'typing';
  /** The chat: the peer account (1:1), or the group chat id. */
  readonly chat: string;
  /** Who is typing: the peer, a group member, or this account (another own device). */
  readonly from: string;
  readonly fromDevice: number;
  readonly state: 'started' | 'stopped';
  /** When to stop showing it (ms, receiver's clock); equals the receive time for `stopped`. */
  readonly expiresAt: number;
}

/** Whether typing indicators are on for this device (the default). */
export async function typingEnabled(settings: SettingsStore): Promise<boolean> {
  const value = await settings.get(TYPING_SETTING);
  return value === undefined || value[0] !== 0;
}

/** Turns typing indicators on or off for this device. */
export async function setTypingEnabled(settings: SettingsStore, on: boolean): Promise<void> {
  await settings.put(TYPING_SETTING, Uint8Array.of(on ? 1 : 0));
}

/** The shown state of an action; undefined for one this version does not know. */
function typingState(action: TypingMessage_Action): TypingEvent['state'] | undefined {
  if (action === TypingMessage_Action.STARTED) return 'started';
  if (action === TypingMessage_Action.STOPPED) return 'stopped';
  return undefined;
}

function event(
  chat: string,
  source: { readonly account: string; readonly deviceId: number },
  state: TypingEvent['state'],
  now: number,
): TypingEvent {
  return {
    type: 'typing',
    chat,
    from: source.account,
    fromDevice: source.deviceId,
    state,
    expiresAt: state === 'started' ? now + TYPING_EXPIRY_MS : now,
  };
}

/**
 * The event for a received `TypingMessage`, or undefined when it is not
 * to be shown: the setting is off, the action is unknown, it claims a
 * group over a pairwise session (group indicators come under the sender
 * key), or a peer names a chat (only own devices say which chat they type in).
 */
export function typingEvent(
  message: TypingMessage,
  source: { readonly account: string; readonly deviceId: number },
  self: { readonly account: string },
  now: number,
): TypingEvent | undefined {
  const state = typingState(message.action);
  if (state === undefined) return undefined;
  if (message.groupId.length > 0) return undefined;
  let chat = source.account;
  if (source.account === self.account) {
    // An own device's copy: the chat it types in; never this account itself.
    if (message.chat.length === 0 || message.chat === self.account) return undefined;
    chat = message.chat;
  } else if (message.chat.length > 0) {
    return undefined;
  }
  return event(chat, source, state, now);
}

/**
 * The event for a `TypingMessage` that came under a group's sender key
 * (groups/group-receive.ts checked the sender's membership and that it
 * names this group), or undefined when it is not to be shown: an unknown
 * action, or a 1:1 chat named in a group indicator.
 */
export function groupTypingEvent(
  message: TypingMessage,
  groupId: GroupId,
  source: { readonly account: string; readonly deviceId: number },
  now: number,
): TypingEvent | undefined {
  const state = typingState(message.action);
  if (state === undefined || message.chat.length > 0) return undefined;
  return event(groupId, source, state, now);
}

/** Sends a group's typing indicators (groups/group-typing.ts, on the group's queue). */
export interface GroupTypingPort {
  sendTyping(groupId: GroupId, action: TypingMessage_Action, timestamp: number): Promise<boolean>;
}

export interface TypingSenderDeps {
  readonly ctx: ProtocolContext;
  readonly settings: SettingsStore;
  readonly sessions: SessionManager;
  readonly groups: GroupTypingPort;
  readonly self: { readonly account: string; readonly deviceId: number };
}

/** Sends this device's typing indicators. */
export class TypingSender {
  constructor(private readonly deps: TypingSenderDeps) {}

  /**
   * Says that this device started or stopped typing in a chat: in a 1:1
   * chat to the peer's connected devices and this account's other
   * connected devices; in a group (a group chat id) to the connected
   * member devices that hold this device's sender key. Returns false (and
   * sends nothing) when the setting is off, or in a group when no device
   * could read it yet (groups/group-typing.ts). A group this account is not
   * in fails with the server's refusal (`not-group-member`, `unknown-group`)
   * or, when only this device's verified chain says so, `GroupError('not-a-member')`.
   */
  async send(chat: string, state: 'started' | 'stopped'): Promise<boolean> {
    const { ctx, settings, sessions, self } = this.deps;
    const groupId = isGroupChat(chat) ? parseGroupId(chat) : undefined;
    if (chat === self.account) {
      throw new ClientError('invalid-argument', 'typing indicators go to another account');
    }
    if (!(await typingEnabled(settings))) return false;
    const timestamp = ctx.clock.now();
    const action =
      state === 'started' ? TypingMessage_Action.STARTED : TypingMessage_Action.STOPPED;
    if (groupId !== undefined) return this.deps.groups.sendTyping(groupId, action, timestamp);
    const toPeer = sessions.send(
      chat,
      encodeContent({
        body: { case: 'typingMessage', value: { action, timestamp: BigInt(timestamp) } },
      }),
      timestamp,
      'encrypted',
      undefined,
      { ephemeral: true },
    );
    const toOwn = sessions.send(
      self.account,
      encodeContent({
        body: { case: 'typingMessage', value: { action, timestamp: BigInt(timestamp), chat } },
      }),
      timestamp,
      'encrypted',
      undefined,
      { ephemeral: true },
    );
    await Promise.all([toPeer, toOwn]);
    return true;
  }

  /** Whether typing indicators are on for this device. */
  enabled(): Promise<boolean> {
    return typingEnabled(this.deps.settings);
  }

  /** Turns typing indicators on or off for this device (both sending and showing). */
  setEnabled(on: boolean): Promise<void> {
    return setTypingEnabled(this.deps.settings, on);
  }
}
