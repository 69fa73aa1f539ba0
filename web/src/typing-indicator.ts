/**
 * Typing indicators in the browser app (issue 14; docs/protocol.md "Typing
 * indicators"), both ways, in 1:1 and group chats:
 *
 * - Outgoing: while the user types in a chat's compose box this device
 *   sends `started` — again at most every TYPING_REPEAT_MS, well inside the
 *   receivers' TYPING_EXPIRY_MS so the indicator does not flicker off — and
 *   `stopped` when the message is sent, the box loses focus or empties, the
 *   chat is left, or the user paused for TYPING_IDLE_MS.
 * - Incoming: a peer's (or a group member's) `typing` event shows them as
 *   typing in its chat until `expiresAt`, a `stopped`, or a message from
 *   them in that chat, whichever comes first; each member of a group on
 *   their own. This account's own other devices also say which chat they
 *   type in; that is never shown (nobody needs to see themselves typing).
 *
 * Indicators are ephemeral: while offline nothing is sent or queued (one
 * that arrived late would be wrong). The device setting (`typingEnabled`,
 * in the settings store) turns both directions off; the core enforces it
 * too, this module only stops asking and clears what is shown.
 */
import {
  errorCode,
  setTypingEnabled,
  typingEnabled,
  type QuintetDevice,
  type SettingsStore,
  type TypingEvent,
} from '../../src/sdk/browser.js';
import type { TypingSettingHandlers } from './ui/typing-setting.js';

/**
 * At most one `started` per chat this often. It must stay well below
 * TYPING_EXPIRY_MS (receivers hide a `started` after that) so the
 * indicator does not flicker off while the user keeps typing.
 */
export const TYPING_REPEAT_MS = 5_000;
/** A pause this long in typing counts as `stopped`. */
export const TYPING_IDLE_MS = 6_000;

/** What the indicator needs from the app. */
export interface TypingIndicatorDeps {
  /** This account's name: its own devices' indicators are not shown. */
  readonly self: string;
  /** The device's settings store (the setting works offline too). */
  readonly settings: SettingsStore;
  /** The running device, undefined while offline. */
  readonly device: () => QuintetDevice | undefined;
  /** Who is typing in `chat` changed: now `typers` (empty: nobody). */
  readonly changed: (chat: string, typers: readonly string[]) => void;
  /** A send failed (reported once per error code until a send succeeds), or the setting could not be read. */
  readonly failed: (error: unknown) => void;
}

/** The chat this device is typing in: when it last said `started`, and its idle timer. */
interface Sending {
  readonly chat: string;
  lastStarted: number;
  idle: ReturnType<typeof setTimeout> | undefined;
}

/** One account typing in one chat: when to stop showing it, and the timer that does. */
interface Shown {
  readonly expiresAt: number;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Typing indicators of one signed-in app. */
export class TypingIndicator {
  readonly #deps: TypingIndicatorDeps;
  /** Chat → the accounts typing in it now. */
  readonly #shown = new Map<string, Map<string, Shown>>();
  #sending: Sending | undefined;
  #enabled = true;
  #lastFailure: string | undefined;

  constructor(deps: TypingIndicatorDeps) {
    this.#deps = deps;
  }

  /** Reads the device setting (on until read: the default). */
  load(): void {
    typingEnabled(this.#deps.settings).then(
      (on) => this.#follow(on),
      (error: unknown) => this.#deps.failed(error),
    );
  }

  /** The devices pane's toggle: reads and changes the device setting. */
  get settingHandlers(): TypingSettingHandlers {
    return {
      typingEnabled: () => typingEnabled(this.#deps.settings),
      setTypingEnabled: async (on) => {
        await setTypingEnabled(this.#deps.settings, on);
        this.#follow(on);
      },
    };
  }

  /** Follows the device setting: off stops sending and hides everything shown. */
  #follow(on: boolean): void {
    this.#enabled = on;
    if (on) return;
    this.stop();
    for (const [chat, typers] of [...this.#shown]) {
      for (const from of [...typers.keys()]) this.#hide(chat, from);
    }
  }

  /** Who is to be shown typing in `chat` now (in the order they started). */
  typers(chat: string): string[] {
    const now = Date.now();
    return [...(this.#shown.get(chat) ?? [])].flatMap(([from, entry]) =>
      entry.expiresAt > now ? [from] : [],
    );
  }

  /**
   * The compose box of `chat` changed: `active` while it holds text the
   * user is typing, false once it is sent, emptied or left.
   */
  composing(chat: string, active: boolean): void {
    if (!active || !this.#enabled) {
      if (this.#sending?.chat === chat) this.stop();
      return;
    }
    if (this.#sending !== undefined && this.#sending.chat !== chat) this.stop();
    const sending = (this.#sending ??= { chat, lastStarted: -Infinity, idle: undefined });
    clearTimeout(sending.idle);
    sending.idle = setTimeout(() => this.composing(chat, false), TYPING_IDLE_MS);
    const now = Date.now();
    if (now - sending.lastStarted < TYPING_REPEAT_MS) return;
    sending.lastStarted = now;
    this.#send(chat, 'started');
  }

  /** Says `stopped` for the chat this device is typing in, if any. */
  stop(): void {
    const sending = this.#sending;
    if (sending === undefined) return;
    this.#sending = undefined;
    clearTimeout(sending.idle);
    this.#send(sending.chat, 'stopped');
  }

  /** A `typing` event arrived. */
  received(event: TypingEvent): void {
    if (event.from === this.#deps.self || !this.#enabled) return;
    const { chat, from } = event;
    if (event.state === 'stopped' || event.expiresAt <= Date.now()) {
      this.#hide(chat, from);
      return;
    }
    const typers = this.#shown.get(chat) ?? new Map<string, Shown>();
    this.#shown.set(chat, typers);
    const previous = typers.get(from);
    if (previous !== undefined) clearTimeout(previous.timer);
    const timer = setTimeout(() => this.#hide(chat, from), event.expiresAt - Date.now());
    typers.set(from, { expiresAt: event.expiresAt, timer });
    this.#deps.changed(chat, this.typers(chat));
  }

  /** A message from `sender` arrived in `chat`: whatever they were typing is here. */
  messageReceived(chat: string, sender: string): void {
    this.#hide(chat, sender);
  }

  /** Stops every timer (the app is going away); sends a last `stopped` if typing. */
  close(): void {
    this.stop();
    for (const typers of this.#shown.values()) {
      for (const entry of typers.values()) clearTimeout(entry.timer);
    }
    this.#shown.clear();
  }

  #hide(chat: string, from: string): void {
    const typers = this.#shown.get(chat);
    const entry = typers?.get(from);
    if (typers === undefined || entry === undefined) return;
    clearTimeout(entry.timer);
    typers.delete(from);
    if (typers.size === 0) this.#shown.delete(chat);
    this.#deps.changed(chat, this.typers(chat));
  }

  #send(chat: string, state: 'started' | 'stopped'): void {
    const device = this.#deps.device();
    // Offline: an indicator is about now; it is not queued for later.
    if (device?.client === undefined) return;
    device.chat.typing(chat, state).then(
      () => {
        this.#lastFailure = undefined;
      },
      (error: unknown) => {
        // Sent on every few keystrokes: one notice per kind of failure, not a stream.
        const code = errorCode(error);
        // A changed key refuses the indicator as it refuses the message: the
        // chat already shows that warning, and the message's own send says
        // "Not sent"; a second notice for the indicator would only repeat it.
        const trustRefusal = code === 'untrusted-identity' || code === 'verification-required';
        if (code !== this.#lastFailure && !trustRefusal) this.#deps.failed(error);
        this.#lastFailure = code;
      },
    );
  }
}
