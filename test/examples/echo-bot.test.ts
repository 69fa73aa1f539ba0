/**
 * examples/echo-bot runs as its own process against the real server and
 * echoes what an SDK device sends it — also after a restart on the same
 * profile — and stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import { parseAccountName, type MessageEvent, type QuintetDevice } from '../../src/sdk/index.js';
import { nextEvent, registeredDevice, sdkServer } from '../sdk/helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BOT = join(ROOT, 'examples', 'echo-bot', 'echo-bot.ts');

/** A running bot and the lines it printed so far. */
interface Bot {
  readonly child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp): Promise<string>;
  readonly exited: Promise<number | null>;
}

function startBot(args: readonly string[]): Bot {
  const child = spawn(process.execPath, ['--import', 'tsx', BOT, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  const stdout = child.stdout;
  if (stdout === null) throw new Error('no stdout');
  createInterface({ input: stdout }).on('line', (text) => {
    seen.push(text);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    child,
    exited,
    async line(pattern) {
      for (;;) {
        const found = seen.find((text) => pattern.test(text));
        if (found !== undefined) return found;
        const ended = await Promise.race([
          new Promise<false>((wake) => waiters.push(() => wake(false))),
          exited.then(() => true),
        ]);
        if (ended) throw new Error(`the bot exited before printing ${String(pattern)}`);
      }
    },
  };
}

const fromEcho = (event: { type: string }): event is MessageEvent =>
  event.type === 'message' && (event as MessageEvent).message.sender === 'echo';

describe('examples/echo-bot', { timeout: 180_000 }, () => {
  let server: RunningServer;
  let alice: QuintetDevice;
  let profile: string;
  const bots: Bot[] = [];

  before(async () => {
    server = await sdkServer();
    alice = await registeredDevice('echo-alice', server.url);
    profile = join(mkdtempSync(join(tmpdir(), 'quintet-echo-')), 'profile');
  });
  after(async () => {
    for (const bot of bots) bot.child.kill('SIGKILL');
    await alice.close();
    await server.close();
    rmSync(join(profile, '..'), { recursive: true, force: true });
  });

  it('registers, echoes every text, restarts on its profile, and stops on SIGTERM', async () => {
    const events = alice.events[Symbol.asyncIterator]();
    const first = startBot(['--profile', profile, '--server', server.url, '--register', 'echo']);
    bots.push(first);
    assert.equal(await first.line(/^ready /), 'ready echo');

    for (const text of ['ping 1', 'ping 2 with ünïcode']) {
      await alice.sendText(parseAccountName('echo'), text);
      const echoed = await nextEvent(events, fromEcho, 30_000);
      assert.equal(echoed.message.text, text);
    }
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    // The profile holds the account: no --register the second time.
    const second = startBot(['--profile', profile, '--server', server.url]);
    bots.push(second);
    assert.equal(await second.line(/^ready /), 'ready echo');
    await alice.sendText(parseAccountName('echo'), 'still there?');
    assert.equal((await nextEvent(events, fromEcho, 30_000)).message.text, 'still there?');
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
