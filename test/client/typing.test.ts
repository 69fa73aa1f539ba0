/**
 * Typing indicators through the real server (in-process): an ephemeral
 * `TypingMessage` reaches the peer's connected devices and the sender's own
 * other connected devices, never an offline one (not later either), and
 * the device setting turns it off both ways.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import { TYPING_EXPIRY_MS } from '../../src/client/core/typing.js';
import { linkDevice, registerDevice, testServer, type EventQueue } from './helpers/clients.js';

/** Typing events `queue` saw so far. */
function typingSeen(queue: EventQueue): number {
  return queue.seen.filter((event) => event.type === 'typing').length;
}

describe('typing indicators (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('reaches connected devices of both accounts, never an offline one', async () => {
    const alice = await registerDevice(server, 't-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const bob = await registerDevice(server, 't-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const a1 = await alice.online();
    const a2 = await alice2.online();
    const b1 = await bob.online();
    // Sessions first (a typing indicator needs none, but this keeps the
    // test about delivery rather than session setup).
    await a1.client.sendText('t-bob', 'hello');
    await b1.events.next('message', 5_000, (e) => e.message.text === 'hello');
    await a2.events.next('message', 5_000, (e) => e.message.text === 'hello');

    const before = Date.now();
    assert.equal(await a1.client.typing.send('t-bob', 'started'), true);
    const atBob = await b1.events.next('typing');
    assert.equal(atBob.chat, 't-alice');
    assert.equal(atBob.from, 't-alice');
    assert.equal(atBob.fromDevice, 1);
    assert.equal(atBob.state, 'started');
    assert.ok(atBob.expiresAt >= before + TYPING_EXPIRY_MS);
    const atOwn = await a2.events.next('typing');
    assert.equal(atOwn.chat, 't-bob', "alice's other device learns the chat");
    assert.equal(atOwn.state, 'started');

    await a1.client.typing.send('t-bob', 'stopped');
    const stopped = await b1.events.next('typing');
    assert.equal(stopped.state, 'stopped');

    // bob's companion was offline throughout: nothing was queued for it.
    const b2 = await bob2.online();
    await a1.client.sendText('t-bob', 'after typing');
    await b2.events.next('message', 5_000, (e) => e.message.text === 'after typing');
    assert.equal(typingSeen(b2.events), 0, 'an offline device never gets a typing indicator');
    // Nothing of it is stored as a message (bob's primary's store, once it has the message too).
    await b1.events.next('message', 5_000, (e) => e.message.text === 'after typing');
    const stored = await bob.store.messages.list('t-alice');
    assert.deepEqual(
      stored.map((m) => m.text),
      ['hello', 'after typing'],
    );
    await Promise.all([a1.client.close(), a2.client.close(), b1.client.close(), b2.client.close()]);
  });

  it('the setting turns it off: neither sent nor shown', async () => {
    const carol = await registerDevice(server, 't-carol');
    const dave = await registerDevice(server, 't-dave');
    const c = await carol.online();
    const d = await dave.online();
    await c.client.sendText('t-dave', 'hi');
    await d.events.next('message', 5_000, (e) => e.message.text === 'hi');

    // Off at the receiver: an indicator still arrives but is not shown.
    await d.client.typing.setEnabled(false);
    assert.equal(await d.client.typing.enabled(), false);
    assert.equal(await c.client.typing.send('t-dave', 'started'), true);
    await c.client.sendText('t-dave', 'marker 1');
    await d.events.next('message', 5_000, (e) => e.message.text === 'marker 1');
    assert.equal(typingSeen(d.events), 0, 'not shown while the setting is off');

    // Off at the sender: nothing goes out.
    await d.client.typing.setEnabled(true);
    await c.client.typing.setEnabled(false);
    assert.equal(await c.client.typing.send('t-dave', 'started'), false);
    await c.client.sendText('t-dave', 'marker 2');
    await d.events.next('message', 5_000, (e) => e.message.text === 'marker 2');
    assert.equal(typingSeen(d.events), 0, 'not sent while the setting is off');

    // On again both ways: shown.
    await c.client.typing.setEnabled(true);
    await c.client.typing.send('t-dave', 'started');
    assert.equal((await d.events.next('typing')).chat, 't-carol');
    await Promise.all([c.client.close(), d.client.close()]);
  });
});
