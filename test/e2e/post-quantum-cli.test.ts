/**
 * End to end with real processes: `quintet settings post-quantum on` on
 * alice, her companion and bob; messages both ways (the companion sending
 * and receiving too) go over version-4 sessions, read back from each
 * profile's store after the processes exited. The session between alice's
 * own devices, made at link time before the setting, stays version 3. The setting is off by
 * default, shown and changed like `settings typing`; a bad value is refused.
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

describe('quintet settings post-quantum end to end', { timeout: 180_000 }, () => {
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

  /** The session version `name`'s profile holds with `account` device `deviceId`. */
  async function version(name: string, account: string, deviceId: number): Promise<unknown> {
    const store = openProfileStore(profile(name));
    try {
      const record = await store.protocol.sessions.loadSession(protocolAddress(account, deviceId));
      return record?.current?.sessionVersion;
    } finally {
      await store.close();
    }
  }

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('alice, her companion and bob talk over v4 sessions with the setting on', async () => {
    for (const name of ['alice', 'bob']) {
      const made = await cli(name, 'register', name, '--server', server.url, '--pin', PIN);
      assert.equal(made.code, 0, made.stderr);
    }
    const laptop = await linkWithCli(server.url, profile('alice2'), 'laptop', (code) =>
      cli('alice', 'devices', 'approve', code, '--pin', PIN),
    );
    assert.equal(laptop, 2);

    const shown = await cli('alice', 'settings', 'post-quantum');
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, 'post-quantum sessions: off\n');
    const bad = await cli('alice', 'settings', 'post-quantum', 'maybe');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /on or off/);
    for (const name of ['alice', 'alice2', 'bob']) {
      const on = await cli(name, 'settings', 'post-quantum', 'on', '--json');
      assert.equal(on.code, 0, on.stderr);
      assert.deepEqual(JSON.parse(on.stdout), { setting: 'post-quantum', on: true });
      // The next start publishes the KEM prekeys (a one-shot command waits
      // for its uploads before it exits).
      await received(name);
    }

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
    // Alice's two devices have had a session since the link, before either
    // had the setting: it stays v3 (an open session is never replaced by
    // the setting alone; linking does not publish KEM prekeys).
    assert.equal(await version('alice', 'alice', 2), 3);
    assert.equal(await version('alice2', 'alice', 1), 3);
    const shownOn = await cli('bob', 'settings', 'post-quantum');
    assert.equal(shownOn.stdout, 'post-quantum sessions: on\n');
  });
});
