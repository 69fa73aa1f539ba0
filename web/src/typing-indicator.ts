/**
 * Typing indicators in the browser app (issue 14; docs/protocol.md "Typing
 * indicators"), both ways, for 1:1 chats:
 *
 * - Outgoing: while the user types in a chat's compose box this device
 *   sends `started` — again at most every TYPING_REPEAT_MS, well inside the
 *   receivers' TYPING_EXPIRY_MS so the indicator does not flicker off — and
 *   `stopped` when the message is sent, the box loses focus or empties, the
 *   chat is left, or the user paused for TYPING_IDLE_MS.
 * - Incoming: a peer's `typing` event shows "typing…" for its chat until
 *   `expiresAt`, a `stopped`, or a message from that peer, whichever comes
 *   first. This account's own other devices also say which chat they type
 *   in; that is never shown (nobody needs to see themselves typing).
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
  /** "typing…" for `chat` is now shown (`typing`) or hidden. */
  readonly changed: (chat: string, typing: boolean) => void;
  /** A send failed (reported once per error code until a send succeeds), or the setting could not be read. */
  readonly failed: (error: unknown) => void;
}

/** The chat this device is typing in: when it last said `started`, and its idle timer. */
interface Sending {
  readonly chat: string;
  lastStarted: number;
  idle: ReturnType<typeof setTimeout> | undefined;
}

/** Typing indicators of one signed-in app. */
export class TypingIndicator {
  readonly #deps: TypingIndicatorDeps;
  /** Chats someone is typing in now: when to stop showing it, and the timer that does. */
  readonly #shown = new Map<
    string,
    { readonly expiresAt: number; readonly timer: ReturnType<typeof setTimeout> }
  >();
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
    for (const chat of [...this.#shown.keys()]) this.#hide(chat);
  }

  /** Whether "typing…" is to be shown for `chat` now. */
  isTyping(chat: string): boolean {
    const entry = this.#shown.get(chat);
    return entry !== undefined && entry.expiresAt > Date.now();
  }

  /**
   * The compose box of `chat` changed: `active` while it holds text the
   * user is typing, false once it is sent, emptied or left.
   */
  composing(chat: string, active: boolean): void {
    // The web app has 1:1 chats only (the core refuses group indicators for now).
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
    if (event.state === 'stopped' || event.expiresAt <= Date.now()) {
      this.#hide(event.chat);
      return;
    }
    const previous = this.#shown.get(event.chat);
    if (previous !== undefined) clearTimeout(previous.timer);
    const timer = setTimeout(() => this.#hide(event.chat), event.expiresAt - Date.now());
    this.#shown.set(event.chat, { expiresAt: event.expiresAt, timer });
    this.#deps.changed(event.chat, true);
  }

  /** A message from `sender` arrived in `chat`: whatever they were typing is here. */
  messageReceived(chat: string, sender: string): void {
    if (chat === sender) this.#hide(chat);
  }

  /** Stops every timer (the app is going away); sends a last `stopped` if typing. */
  close(): void {
    this.stop();
    for (const entry of this.#shown.values()) clearTimeout(entry.timer);
    this.#shown.clear();
  }

  #hide(chat: string): void {
    const entry = this.#shown.get(chat);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.#shown.delete(chat);
    this.#deps.changed(chat, false);
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
