/**
 * A `quintet receive --follow --json` child process whose stdout is read
 * line by line, for tests that watch messages arrive while something else
 * happens (a server restart, a cut connection).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

const BIN = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'quintet.js');

/** A running follower. */
export class Follower {
  readonly #child: ChildProcess;
  readonly #lines: Array<Record<string, unknown>> = [];
  readonly #exited: Promise<number | null>;
  #wake: (() => void) | undefined;
  stderr = '';

  /** Starts `receive --follow --json --profile <profile>` plus `extraArgs`. */
  constructor(profile: string, extraArgs: readonly string[] = []) {
    this.#child = spawn(
      process.execPath,
      [BIN, 'receive', '--follow', '--json', '--profile', profile, ...extraArgs],
      {
        env: { ...process.env, QUINTET_PROFILE: '', QUINTET_PIN: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.#exited = new Promise((done) => this.#child.once('exit', (code) => done(code)));
    let buffer = '';
    this.#child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line !== '') this.#lines.push(JSON.parse(line) as Record<string, unknown>);
        newline = buffer.indexOf('\n');
      }
      this.#wake?.();
    });
    this.#child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.#wake?.();
    });
  }

  /** Every stdout line so far, parsed. */
  get lines(): ReadonlyArray<Record<string, unknown>> {
    return this.#lines;
  }

  /** Texts of every message line so far, in order. */
  get texts(): string[] {
    return this.#lines.flatMap((l) => (l['type'] === 'message' ? [String(l['text'])] : []));
  }

  /** Whether the process has exited. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Waits until `check` holds (`timeoutMs` only guards against a hang). */
  async until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check()) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}; got ${JSON.stringify(this.#lines)}; ${this.stderr}`,
        );
      }
      await new Promise<void>((done) => {
        const timer = setTimeout(done, Math.min(left, 200));
        this.#wake = () => {
          clearTimeout(timer);
          done();
        };
      });
    }
  }

  /** Waits for a line matching `match` and returns it. */
  async line(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await this.until(
      'a matching line',
      () => (found = this.#lines.find(match)) !== undefined,
      timeoutMs,
    );
    if (found === undefined) throw new Error('unreachable: until() returned without a match');
    return found;
  }

  /** Waits for the message line with `text` and returns it. */
  message(text: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.line((l) => l['type'] === 'message' && l['text'] === text, timeoutMs);
  }

  /** Sends SIGTERM (the follower stops cleanly) and resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.#child.kill('SIGTERM');
    return this.#exited;
  }

  /** Resolves with the exit code once the process exits by itself (rejects after `timeoutMs`). */
  async exited(timeoutMs = 60_000): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the follower did not exit; ${this.stderr}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.#exited, hang]);
    } finally {
      clearTimeout(timer);
    }
  }
}
