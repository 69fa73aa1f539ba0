/**
 * How much history a primary sends a new companion: the last N days, all,
 * or none. Its own module (no archive code), so a command line can check
 * `--history` without loading the archive builder.
 */

/** How far back an archive reaches: the last `days`, or everything. */
export type HistoryChoice = { readonly days: number } | 'all' | 'none';

/** Default reach of an archive (WhatsApp's "about 3 months"). */
export const DEFAULT_HISTORY: HistoryChoice = { days: 90 };

/** Parses `90d`, `all`, `none` (CLI `--history`). */
export function parseHistoryChoice(text: string): HistoryChoice | undefined {
  if (text === 'all' || text === 'none') return text;
  const match = /^(\d{1,5})d$/.exec(text);
  if (match === null) return undefined;
  const days = Number(match[1]);
  return days > 0 ? { days } : undefined;
}
