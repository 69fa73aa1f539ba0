/**
 * A one-line progress bar for transfers, drawn only when stdout is a
 * terminal: piped output (scripts, `--json`) stays exactly the result lines.
 */
const WIDTH = 24;
/** Redraw at most this often; a 1 GiB transfer reports thousands of chunks. */
const REDRAW_MS = 100;

export interface ProgressBar {
  update(done: number, total: number): void;
  /** Clears the line, so the result prints where the bar was. */
  finish(): void;
}

const silent: ProgressBar = { update: () => undefined, finish: () => undefined };

export function progressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stdout,
): ProgressBar {
  if (stream.isTTY !== true) return silent;
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (done < total && now - last < REDRAW_MS) return;
      last = now;
      const fraction = total === 0 ? 1 : Math.min(1, done / total);
      const filled = Math.round(fraction * WIDTH);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
      stream.write(
        `\r${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(done)} / ${formatBytes(total)}`,
      );
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\r\u001b[2K');
      drawn = false;
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
