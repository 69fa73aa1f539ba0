/**
 * Text from other people (message text, group names, device names, account
 * names, server-supplied words) made safe to write to a terminal.
 *
 * A terminal obeys control characters in what it prints: ESC starts CSI and
 * OSC sequences that can clear the screen, move the cursor to overwrite
 * earlier lines, set the window title, write to the clipboard (OSC 52) or
 * make fake links (OSC 8); 8-bit C1 controls (U+0080–U+009F, e.g. U+009B as
 * CSI) do the same on some terminals; CR and backspace overwrite what is
 * already shown; bidi overrides reorder the rest of the line, so
 * "bob: hi" can be made to display as something else. A peer must not be
 * able to do any of that by sending a message.
 *
 * Every control character is replaced by a visible stand-in, so the user
 * sees that something was there and nothing acts on the terminal:
 * - C0 controls and DEL become their Unicode control pictures (ESC → ␛,
 *   BEL → ␇, CR → ␍): a CSI sequence is left as inert text ("␛[2J");
 * - C1 controls, bidi embeddings/overrides/isolates and marks, and the
 *   line and paragraph separators become U+FFFD;
 * - in message text (`terminalMessage`) a newline stays a newline, but the
 *   next line is indented, so a message cannot print a line that looks
 *   like another message or a notice; tabs stay.
 *
 * Used by every human-output path of the CLI. `--json` output is not passed
 * through here: it is exact (JSON escapes C0 controls itself).
 */

/** Where the stand-ins for C0 controls start (U+2400 SYMBOL FOR NULL). */
const CONTROL_PICTURES = 0x2400;
/** U+2421 SYMBOL FOR DELETE. */
const DELETE_PICTURE = '\u2421';
const REPLACEMENT = '\ufffd';
/** Indentation of a message's continuation lines. */
const CONTINUATION = '\n    ';

/**
 * Bidi controls (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM)
 * and the Unicode line/paragraph separators some terminals break lines on.
 */
const BIDI_AND_SEPARATORS = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]/g;

/** C0 controls, DEL and C1 controls, optionally sparing tab and newline. */
// eslint-disable-next-line no-control-regex
const ALL_CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex
const CONTROLS_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

function standIn(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(CONTROL_PICTURES + code);
  if (code === 0x7f) return DELETE_PICTURE;
  return REPLACEMENT;
}

/** A single-line field (a name, an id, a reason word): every control is replaced. */
export function terminalText(value: string): string {
  return value.replace(ALL_CONTROLS, standIn).replace(BIDI_AND_SEPARATORS, REPLACEMENT);
}

/**
 * Message text: like `terminalText`, but newlines (and CRLF) stay line
 * breaks, with the following lines indented, and tabs stay tabs.
 */
export function terminalMessage(value: string): string {
  return value
    .replace(/\r\n/g, '\n')
    .replace(CONTROLS_BUT_TAB_NEWLINE, standIn)
    .replace(BIDI_AND_SEPARATORS, REPLACEMENT)
    .replace(/\n/g, CONTINUATION);
}
