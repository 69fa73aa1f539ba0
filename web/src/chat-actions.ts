/**
 * The app's side of a conversation's chat calls: send (and reply), edit,
 * react, delete and the disappearing timer, each through the SDK's
 * `device.chat` (docs/protocol.md, "Chat events"). The store, not the call,
 * is what the view shows: after each call the app re-renders from it. A
 * refused call (a `ChatError`: the edit window passed, say) is shown as a
 * notice and changes nothing.
 */
import {
  ClientError,
  type QuintetDevice,
  type StoredMessage,
  type Attachment,
} from '../../src/sdk/browser.js';
import type { Notices } from './notices.js';

/** The calls one open chat makes, bound to its chat name. */
export interface ChatCalls {
  readonly send: (text: string, replyTo?: StoredMessage, attachment?: Attachment) => Promise<void>;
  readonly edit: (message: StoredMessage, text: string) => Promise<void>;
  readonly react: (message: StoredMessage, emoji: string) => void;
  readonly removeReaction: (message: StoredMessage) => void;
  readonly deleteForMe: (message: StoredMessage) => void;
  readonly deleteForEveryone: (message: StoredMessage) => void;
  readonly setTimer: (seconds: number) => void;
}

/**
 * The chat calls of `chat`. `device` is the running device (undefined
 * while offline: the call is refused with a notice rather than queued, as
 * for sends); `changed` re-renders after a call went through.
 */
export function chatCalls(
  chat: string,
  device: () => QuintetDevice | undefined,
  notices: Notices,
  changed: () => void,
): ChatCalls {
  /** Runs one call; a failure is shown and rethrown to the caller. */
  const run = async (what: string, body: (device: QuintetDevice) => Promise<unknown>) => {
    const current = device();
    if (current?.client === undefined) {
      notices.show('error', `Not connected. The ${what} was not sent.`);
      throw new ClientError('transport-closed', 'not connected');
    }
    try {
      await body(current);
    } catch (error) {
      notices.error(error);
      throw error;
    }
    changed();
  };
  /** For menu items: the notice is the whole report, nothing waits on the result. */
  const fire = (what: string, body: (device: QuintetDevice) => Promise<unknown>): void => {
    run(what, body).catch(() => undefined);
  };
  return {
    send: (text, replyTo, attachment) =>
      run('message', (d) =>
        d.chat.send(chat, text, {
          ...(replyTo !== undefined ? { replyTo: replyTo.id } : {}),
          ...(attachment !== undefined ? { attachment } : {}),
        }),
      ),
    edit: (message, text) => run('edit', (d) => d.chat.edit(chat, message.id, text)),
    react: (message, emoji) => fire('reaction', (d) => d.chat.react(chat, message.id, emoji)),
    removeReaction: (message) => fire('reaction', (d) => d.chat.removeReaction(chat, message.id)),
    deleteForMe: (message) => fire('deletion', (d) => d.chat.deleteForMe(chat, [message.id])),
    deleteForEveryone: (message) =>
      fire('deletion', (d) => d.chat.deleteForEveryone(chat, message.id)),
    setTimer: (seconds) => fire('timer change', (d) => d.chat.setTimer(chat, seconds)),
  };
}
