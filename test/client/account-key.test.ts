/**
 * A contact reinstalls the primary (a new account key) — client handling
 * against the real server in-process, started with `allowReregistration`:
 * registering an existing name replaces device 1, removes every companion
 * and starts a new list epoch. Then:
 * - the peer is told in plain words (`account-key-changed`), drops every
 *   session of the old key's devices, trusts the new key and continues;
 * - the safety number changes (and stayed the same before).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { protocolAddress } from '../../src/protocol/address.js';
import type { RunningServer } from '../../src/server/main.js';
import { linkDevice, registerDevice, testServer } from './helpers/clients.js';

describe('a contact reinstalls the primary (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer({ allowReregistration: true });
  });
  after(async () => {
    await server.close();
  });

  it('notices the new account key, drops old sessions, continues with the new key', async () => {
    const alice = await registerDevice(server, 'k-alice');
    const bob = await registerDevice(server, 'k-bob');
    assert.equal((await linkDevice(server, bob, 'desktop')).deviceId, 2);
    let a = await alice.online();
    await a.client.sendText('k-bob', 'to the old install');
    const numberBefore = (await a.client.safetyNumber('k-bob')).displayable;
    assert.ok(await alice.store.protocol.sessions.loadSession(protocolAddress('k-bob', 2)));
    await a.client.close();

    // bob reinstalls Quintet on his primary: a new profile, the same name.
    const newBob = await registerDevice(server, 'k-bob');
    const nb = await newBob.online();

    a = await alice.online();
    const sent = await a.client.sendText('k-bob', 'to the new install');
    const notice = await a.events.next('account-key-changed');
    assert.equal(notice.account, 'k-bob');
    assert.deepEqual(sent.outcome.devices, [1]);
    assert.equal(
      await alice.store.protocol.sessions.loadSession(protocolAddress('k-bob', 2)),
      undefined,
      'the old companion session is gone',
    );
    assert.equal((await nb.events.next('message')).message.text, 'to the new install');
    const numberAfter = (await a.client.safetyNumber('k-bob')).displayable;
    assert.notEqual(numberAfter, numberBefore, 'a new account key is a new safety number');
    assert.equal(a.events.all('account-key-changed').length, 1, 'told once');

    // And the reverse direction works on the new key.
    await nb.client.sendText('k-alice', 'new me');
    assert.equal((await a.events.next('message')).message.text, 'new me');
    await a.client.close();
    await nb.client.close();
  });
});
