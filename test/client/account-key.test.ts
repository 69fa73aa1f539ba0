/**
 * A contact reinstalls the primary (a new account key) — client handling
 * against the real server in-process, started with `allowReregistration`:
 * registering an existing name replaces device 1, removes every companion
 * and starts a new list epoch. Then:
 * - the peer is told in plain words (`account-key-changed`) before anything
 *   is sent, and the send fails with `untrusted-identity`: nothing reaches
 *   the server for that account (its queue stays empty);
 * - the new install's messages wait on the server (held, not acked);
 * - `client.trust` accepts the new key: old sessions are dropped, sending
 *   works, the held messages are read, the safety number changed;
 * - a verified contact stays blocked until accepted as verified again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClientError } from '../../src/client/core/errors.js';
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

  it('blocks sends to the new key until the user accepts it, then continues', async () => {
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
    let nb = await newBob.online();
    await nb.client.sendText('k-alice', 'new me');
    await nb.client.close();

    a = await alice.online();
    await assert.rejects(
      a.client.sendText('k-bob', 'to the new install'),
      (error: unknown) =>
        ClientError.is(error, 'untrusted-identity') &&
        error.account === 'k-bob' &&
        !error.message.includes('new install'),
    );
    // The warning (emitted while the view was refreshed, before the send
    // could fail) says the key changed; nothing went to the new key.
    const notice = await a.events.next('account-key-changed');
    assert.equal(notice.account, 'k-bob');
    assert.equal(notice.verified, false);
    assert.equal(await server.store.queue.count('k-bob', 1), 0, 'no envelope for the new key');
    // The new install's message is held on the server, not shown and not lost.
    const held = await a.events.next('session-refused');
    assert.equal(held.held, true);
    assert.equal(held.reason, 'account-key-not-accepted');
    await a.client.idle();
    assert.equal(a.events.all('message').length, 0);
    assert.equal(await server.store.queue.count('k-alice', 1), 1, 'held, not acked');
    // A second try fails the same way, without a second warning.
    await assert.rejects(a.client.sendText('k-bob', 'again'), (e: unknown) =>
      ClientError.is(e, 'untrusted-identity'),
    );
    assert.equal(a.events.all('account-key-changed').length, 1, 'told once per key');
    assert.ok(
      await alice.store.protocol.sessions.loadSession(protocolAddress('k-bob', 2)),
      'old sessions untouched before the decision',
    );

    const decision = await a.client.trust('k-bob');
    assert.equal(decision.changed, true);
    assert.equal(decision.verified, false);
    assert.notEqual(decision.safetyNumber.displayable, numberBefore, 'a new safety number');
    assert.equal(
      await alice.store.protocol.sessions.loadSession(protocolAddress('k-bob', 2)),
      undefined,
      'the old companion session is gone',
    );
    const sent = await a.client.sendText('k-bob', 'to the new install');
    assert.deepEqual(sent.outcome.devices, [1]);
    assert.equal(
      (await a.client.safetyNumber('k-bob')).displayable,
      decision.safetyNumber.displayable,
    );
    await a.client.close();

    // The held message is read on the next connection; bob reads alice's.
    a = await alice.online();
    assert.equal((await a.events.next('message')).message.text, 'new me');
    nb = await newBob.online();
    assert.equal((await nb.events.next('message')).message.text, 'to the new install');
    await a.client.close();
    await nb.client.close();
  });

  it('keeps a verified contact blocked until it is verified again', async () => {
    const alice = await registerDevice(server, 'v-alice');
    const bob = await registerDevice(server, 'v-bob');
    let a = await alice.online();
    await a.client.sendText('v-bob', 'hello');
    const marked = await a.client.trust('v-bob', { verified: true });
    assert.equal(marked.changed, false);
    assert.equal(marked.verified, true);
    // Trusting without --verified keeps the mark on an unchanged key.
    assert.equal((await a.client.trust('v-bob')).verified, true);
    await a.client.close();
    void bob;

    const newBob = await registerDevice(server, 'v-bob');
    a = await alice.online();
    await assert.rejects(a.client.sendText('v-bob', 'x'), (e: unknown) =>
      ClientError.is(e, 'untrusted-identity'),
    );
    assert.equal((await a.events.next('account-key-changed')).verified, true);
    // Accepting without verifying is refused, and changes nothing.
    await assert.rejects(a.client.trust('v-bob'), (e: unknown) =>
      ClientError.is(e, 'verification-required'),
    );
    await assert.rejects(a.client.sendText('v-bob', 'x'), (e: unknown) =>
      ClientError.is(e, 'untrusted-identity'),
    );
    assert.equal(await server.store.queue.count('v-bob', 1), 0);

    const decision = await a.client.trust('v-bob', { verified: true });
    assert.equal(decision.changed, true);
    assert.equal(decision.verified, true);
    await a.client.sendText('v-bob', 'verified again');
    await a.client.close();
    const nb = await newBob.online();
    assert.equal((await nb.events.next('message')).message.text, 'verified again');
    await nb.client.close();
  });

  it('sends nothing to a pending key in a group either', async () => {
    const alice = await registerDevice(server, 'g-alice');
    const bob = await registerDevice(server, 'g-bob');
    const carol = await registerDevice(server, 'g-carol');
    let a = await alice.online();
    const group = await a.client.groups.create('trio', ['g-bob', 'g-carol']);
    await a.client.groups.send(group.groupId, 'first');
    await a.client.close();
    void bob;

    await registerDevice(server, 'g-bob');
    a = await alice.online();
    await a.client.verifiedDevices('g-bob');
    const sent = await a.client.groups.send(group.groupId, 'second');
    assert.ok(
      sent.refused.some((r) => r.account === 'g-bob' && r.deviceId === 1),
      'the new key device is refused',
    );
    assert.equal(await server.store.queue.count('g-bob', 1), 0, 'nothing for the new key');
    await a.client.close();
    const c = await carol.online();
    await c.events.next('message', 5_000, (e) => e.message.text === 'second');
    await c.client.close();
  });
});
