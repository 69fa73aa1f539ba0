/**
 * A one-line progress bar on stderr when it is a terminal ("syncing
 * history: 12,345 / 50,000 messages"); plain lines at the start and end
 * otherwise, so logs and pipes stay readable.
 */
const WIDTH = 24;

/** Formats a count with thousands separators (en-US, like the example). */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** A progress line that redraws itself on a terminal. */
export class HistoryProgressBar {
  readonly #tty: boolean;
  #drawn = false;
  #lastText = '';

  constructor(
    readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.#tty = stream.isTTY;
  }

  /** Shows `done / total unit`. */
  update(done: number, total: number, unit: string): void {
    const text = `${this.label}: ${formatCount(done)} / ${formatCount(total)} ${unit}`;
    if (!this.#tty) {
      // Without a terminal only the first line is printed; `finish` prints the last.
      if (!this.#drawn) this.stream.write(`${text}\n`);
      this.#drawn = true;
      this.#lastText = text;
      return;
    }
    const ratio = total <= 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(ratio * WIDTH);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`;
    this.stream.write(`\r\u001b[2K${text} ${bar}`);
    this.#drawn = true;
    this.#lastText = text;
  }

  /** Ends the bar with a final message on its own line. */
  finish(message: string): void {
    if (this.#tty && this.#drawn) this.stream.write('\r\u001b[2K');
    else if (!this.#tty && this.#drawn && this.#lastText !== '')
      this.stream.write(`${this.#lastText}\n`);
    this.stream.write(`${message}\n`);
  }
}
