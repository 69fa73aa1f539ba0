/**
 * The rules and bounds of chat events (docs/protocol.md, "Chat events"):
 * the edit and delete windows, the timer values, and the size bounds the
 * decoder enforces on untrusted content.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_S = 86_400;

/** The windows receivers enforce; every device of a chat must use the same ones to agree. */
export interface ChatRules {
  /** How long after sending the author may edit a message, ms (default 15 min). */
  readonly editWindowMs: number;
  /** How long after sending the author may delete a message for everyone, ms (default 48 h). */
  readonly deleteWindowMs: number;
  /**
   * Events whose target message is not here yet are kept, at most this many
   * per chat (default 1,000): a peer cannot make a device keep unbounded
   * pending events by naming messages that never come.
   */
  readonly maxPendingPerChat: number;
  /**
   * How long one second of a disappearing timer lasts on this device, ms
   * (default 1000). Only tests shrink it (the CLI's QUINTET_CHAT_TIMER_SCALE),
   * so a 24 h timer runs out in seconds: the wire still carries one of the
   * four user timers, so nothing new can be picked or sent and a receiver
   * with the default keeps the message the real 24 h.
   */
  readonly timerSecondMs: number;
}

export const DEFAULT_CHAT_RULES: ChatRules = {
  editWindowMs: 15 * MINUTE_MS,
  deleteWindowMs: 48 * HOUR_MS,
  maxPendingPerChat: 1000,
  timerSecondMs: 1000,
};

/** The disappearing-timer settings a chat may have, seconds (0 = off). */
export const TIMER_VALUES: readonly number[] = [0, DAY_S, 7 * DAY_S, 90 * DAY_S];

/** The longest timer a message may carry, seconds. */
export const MAX_EXPIRE_TIMER_S = 90 * DAY_S;

/** Bounds on untrusted event fields. */
export const MAX_EMOJI_BYTES = 64;
export const MAX_SNIPPET_CHARS = 1000;
export const MAX_DELETE_FOR_ME_TARGETS = 100;

/** Parses `off`, `24h`, `7d`, `90d` (CLI `timer`) into seconds; undefined otherwise. */
export function parseTimer(text: string): number | undefined {
  const table: Record<string, number> = {
    off: 0,
    '24h': DAY_S,
    '7d': 7 * DAY_S,
    '90d': 90 * DAY_S,
  };
  return Object.hasOwn(table, text) ? table[text] : undefined;
}
