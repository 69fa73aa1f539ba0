/**
 * End to end with real processes, post-quantum sessions being the default:
 *
 * - alice, her companion (linked with `quintet link`, approved by `devices
 *   approve`) and bob, all with default profiles, talk over version-4
 *   sessions — the one between alice's own devices made at link time
 *   included — read back from each profile's store after the processes
 *   exited. `settings post-quantum` shows on, `off` opts out, a bad value
 *   is refused.
 * - The upgrade: carol and dave registered with `--no-post-quantum` (as
 *   accounts made before the default) talk over v3 sessions; after
 *   `settings post-quantum on` those sessions stay in use (still v3, the
 *   same state), `quintet safety-number` prints the same number on both
 *   sides as before, and a new device of dave gets v4 sessions — one
 *   linked with `--no-post-quantum` v3.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openProfileStore } from '../../src/cli/profile.js';
import { protocolAddress } from '../../src/protocol/address.js';
import {
  ensureBuilt,
  linkWithCli,
  messagesOf,
  runCli,
  startServer,
  tempDir,
  type ServerProcess,
} from './harness.js';

const PIN = '2468';

describe('post-quantum sessions end to end (CLI)', { timeout: 180_000 }, () => {
  const dir = tempDir('quintet-pq-');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;

  const cli = (name: string, ...args: string[]) => runCli([...args, '--profile', profile(name)]);

  /** `receive --json` texts of `name`, checked to exit 0. */
  async function received(name: string): Promise<unknown[]> {
    const result = await cli(name, 'receive', '--json');
    assert.equal(result.code, 0, result.stderr);
    return messagesOf(result).map((m) => m['text']);
  }

  async function send(name: string, to: string, text: string): Promise<void> {
    const result = await cli(name, 'send', to, text);
    assert.equal(result.code, 0, result.stderr);
  }

  async function register(name: string, ...extra: string[]): Promise<void> {
    const made = await cli(name, 'register', name, '--server', server.url, '--pin', PIN, ...extra);
    assert.equal(made.code, 0, made.stderr);
  }

  /** The current session state `name`'s profile holds with `account` device `deviceId`. */
  async function session(name: string, account: string, deviceId: number) {
    const store = openProfileStore(profile(name));
    try {
      const record = await store.protocol.sessions.loadSession(protocolAddress(account, deviceId));
      return record?.current;
    } finally {
      await store.close();
    }
  }

  async function version(name: string, account: string, deviceId: number): Promise<unknown> {
    return (await session(name, account, deviceId))?.sessionVersion;
  }

  async function setting(name: string): Promise<string> {
    const shown = await cli(name, 'settings', 'post-quantum');
    assert.equal(shown.code, 0, shown.stderr);
    return shown.stdout;
  }

  async function safetyNumber(name: string, peer: string): Promise<string> {
    const result = await cli(name, 'safety-number', peer);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  }

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('by default alice, her companion and bob talk over v4 sessions, link-time ones included', async () => {
    for (const name of ['alice', 'bob']) await register(name);
    const laptop = await linkWithCli(server.url, profile('alice2'), 'laptop', (code) =>
      cli('alice', 'devices', 'approve', code, '--pin', PIN),
    );
    assert.equal(laptop, 2);
    // Made at link time: the primary sent the new companion its account state.
    assert.equal(await version('alice', 'alice', 2), 4);
    assert.equal(await version('alice2', 'alice', 1), 4);

    assert.equal(await setting('alice'), 'post-quantum sessions: on\n');
    const bad = await cli('alice', 'settings', 'post-quantum', 'maybe');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /on or off/);

    await send('alice', 'bob', 'a1');
    assert.deepEqual(await received('bob'), ['a1']);
    await send('bob', 'alice', 'b1');
    assert.deepEqual(await received('alice'), ['b1']);
    assert.deepEqual(await received('alice2'), ['a1', 'b1']);
    await send('alice2', 'bob', 'c1');
    assert.deepEqual(await received('bob'), ['c1']);
    await send('bob', 'alice', 'b2');
    assert.deepEqual(await received('alice2'), ['b2']);
    assert.deepEqual(await received('alice'), ['c1', 'b2']);

    assert.equal(await version('alice', 'bob', 1), 4);
    assert.equal(await version('alice2', 'bob', 1), 4);
    assert.equal(await version('bob', 'alice', 1), 4);
    assert.equal(await version('bob', 'alice', 2), 4);
    assert.equal(await version('alice', 'alice', 2), 4);
    assert.equal(await version('alice2', 'alice', 1), 4);

    const off = await cli('bob', 'settings', 'post-quantum', 'off', '--json');
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(JSON.parse(off.stdout), { setting: 'post-quantum', on: false });
    assert.equal(await setting('bob'), 'post-quantum sessions: off\n');
    const on = await cli('bob', 'settings', 'post-quantum', 'on', '--json');
    assert.deepEqual(JSON.parse(on.stdout), { setting: 'post-quantum', on: true });
  });

  it('upgrade: v3 sessions of an account made without PQ keep working, the safety number stays', async () => {
    for (const name of ['carol', 'dave']) {
      await register(name, '--no-post-quantum');
      assert.equal(await setting(name), 'post-quantum sessions: off\n');
    }
    await send('carol', 'dave', 'before');
    assert.deepEqual(await received('dave'), ['before']);
    await send('dave', 'carol', 'before back');
    assert.deepEqual(await received('carol'), ['before back']);
    assert.equal(await version('carol', 'dave', 1), 3);
    assert.equal(await version('dave', 'carol', 1), 3);
    const carolBase = (await session('carol', 'dave', 1))?.aliceBaseKey;
    const numbers = [await safetyNumber('carol', 'dave'), await safetyNumber('dave', 'carol')];
    assert.match(numbers[0] ?? '', /^(\d{5} ){11}\d{5}\n$/);
    assert.equal(numbers[0], numbers[1]);

    for (const name of ['carol', 'dave']) {
      const on = await cli(name, 'settings', 'post-quantum', 'on');
      assert.equal(on.code, 0, on.stderr);
    }
    await send('carol', 'dave', 'after');
    assert.deepEqual(await received('dave'), ['after']);
    await send('dave', 'carol', 'after back');
    assert.deepEqual(await received('carol'), ['after back']);
    // The same v3 session, continued.
    assert.equal(await version('carol', 'dave', 1), 3);
    assert.equal(await version('dave', 'carol', 1), 3);
    assert.deepEqual((await session('carol', 'dave', 1))?.aliceBaseKey, carolBase);
    assert.deepEqual(
      [await safetyNumber('carol', 'dave'), await safetyNumber('dave', 'carol')],
      numbers,
    );

    // A new device of dave's, linked with the default: v4 with carol.
    const tablet = await linkWithCli(server.url, profile('dave2'), 'tablet', (code) =>
      cli('dave', 'devices', 'approve', code, '--pin', PIN),
    );
    await send('carol', 'dave', 'to both');
    assert.deepEqual(await received('dave2'), ['to both']);
    assert.deepEqual(await received('dave'), ['to both']);
    assert.equal(await version('carol', 'dave', tablet), 4);
    assert.equal(await version('dave2', 'carol', 1), 4);
    assert.equal(await version('carol', 'dave', 1), 3);
    assert.deepEqual(await safetyNumber('carol', 'dave'), numbers[0]);

    // A device linked with --no-post-quantum stays v3 and says so.
    const phone = await linkWithCli(
      server.url,
      profile('dave3'),
      'phone',
      (code) => cli('dave', 'devices', 'approve', code, '--pin', PIN),
      ['--no-post-quantum'],
    );
    assert.equal(await setting('dave3'), 'post-quantum sessions: off\n');
    await send('carol', 'dave', 'to all three');
    assert.deepEqual(await received('dave3'), ['to all three']);
    assert.equal(await version('carol', 'dave', phone), 3);
    assert.equal(await version('dave3', 'carol', 1), 3);
  });
});
