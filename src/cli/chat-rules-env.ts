/**
 * The chat rules a CLI device enforces, from the environment:
 *
 * - `QUINTET_EDIT_WINDOW` / `QUINTET_DELETE_WINDOW`: how long after sending
 *   the author may edit / delete for everyone (default 15m / 48h), as
 *   seconds or a duration (`90`, `30s`, `15m`, `48h`, `2d`). Every device of
 *   a chat must use the same windows, or they disagree about which edits
 *   and deletes stand.
 * - `QUINTET_CHAT_TIMER_SCALE`: a test/debug setting that makes timers run
 *   that many times faster on this device (`17280` turns 24 h into 5 s).
 *   Users still pick only off/24h/7d/90d and the wire carries only those.
 *
 * A malformed value is refused with a clear error rather than silently
 * falling back to the defaults.
 */
import { DEFAULT_CHAT_RULES, type ChatRules } from '../sdk/index.js';
import { CliError } from './cli-error.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A window longer than a year is a typo, not a policy. */
const MAX_WINDOW_MS = 366 * 86_400_000;
/** 24 h in a tenth of a second is the fastest any test needs. */
const MAX_TIMER_SCALE = 864_000;

/** Parses `90`, `30s`, `15m`, `48h`, `2d` into ms (1 s to 366 d). */
export function parseWindow(name: string, text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  const unit = UNIT_MS[match?.[2] === '' || match?.[2] === undefined ? 's' : match[2]];
  const ms = match === null || unit === undefined ? NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(ms) || ms < 1000 || ms > MAX_WINDOW_MS) {
    throw new CliError(`${name}: give seconds or a duration like 30s, 15m, 48h (1s to 366d)`);
  }
  return ms;
}

function parseScale(text: string): number {
  const scale = /^\d{1,9}$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(scale) || scale < 1 || scale > MAX_TIMER_SCALE) {
    throw new CliError(`QUINTET_CHAT_TIMER_SCALE: a whole number from 1 to ${MAX_TIMER_SCALE}`);
  }
  return scale;
}

/** The rules from `env`; undefined when none of the variables is set (the SDK's defaults). */
export function chatRulesFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ChatRules | undefined {
  const edit = env['QUINTET_EDIT_WINDOW'];
  const remove = env['QUINTET_DELETE_WINDOW'];
  const scale = env['QUINTET_CHAT_TIMER_SCALE'];
  if (edit === undefined && remove === undefined && scale === undefined) return undefined;
  return {
    ...DEFAULT_CHAT_RULES,
    ...(edit === undefined ? {} : { editWindowMs: parseWindow('QUINTET_EDIT_WINDOW', edit) }),
    ...(remove === undefined
      ? {}
      : { deleteWindowMs: parseWindow('QUINTET_DELETE_WINDOW', remove) }),
    ...(scale === undefined
      ? {}
      : { timerSecondMs: DEFAULT_CHAT_RULES.timerSecondMs / parseScale(scale) }),
  };
}
