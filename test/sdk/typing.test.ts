/**
 * Typing indicators through the SDK (`device.chat.typing`) against the real
 * server: a `started` reaches the connected peer as a typed `typing` event,
 * and the device setting turns it off both ways — a sender with it off
 * sends nothing, a receiver with it off reports nothing. "Nothing arrived"
 * is shown without timing: a text sent afterwards on the same path arrives
 * first with no `typing` event before it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import type { QuintetDevice } from '../../src/sdk/index.js';
import {
  ClientError,
  parseAccountName,
  TYPING_EXPIRY_MS,
  type MessageEvent,
  type QuintetEvent,
  type TypingEvent,
} from '../../src/sdk/index.js';
import { nextEvent, registeredDevice, sdkServer } from './helpers.js';

const isTyping = (event: QuintetEvent): event is TypingEvent => event.type === 'typing';
const isMessage = (event: QuintetEvent): event is MessageEvent => event.type === 'message';

/** Reads up to the next message event; fails if a `typing` event comes first. */
async function messageWithoutTyping(events: AsyncIterator<QuintetEvent>): Promise<MessageEvent> {
  const seen = await nextEvent(
    events,
    (event): event is MessageEvent | TypingEvent => isMessage(event) || isTyping(event),
  );
  assert.equal(seen.type, 'message', 'a typing event arrived although the setting is off');
  return seen;
}

describe('SDK: typing indicators', { timeout: 120_000 }, () => {
  let server: RunningServer;
  const opened: QuintetDevice[] = [];

  before(async () => {
    server = await sdkServer();
  });
  after(async () => {
    for (const device of opened) await device.close();
    await server.close();
  });

  async function device(name: string): Promise<QuintetDevice> {
    const made = await registeredDevice(name, server.url);
    opened.push(made);
    return made;
  }

  it('started and stopped reach the connected peer as typing events', async () => {
    const alice = await device('typ-alice');
    const bob = await device('typ-bob');
    const bobEvents = bob.events[Symbol.asyncIterator]();
    assert.equal(await alice.chat.typingEnabled(), true);

    const before = Date.now();
    assert.equal(await alice.chat.typing('typ-bob', 'started'), true);
    const started = await nextEvent(bobEvents, isTyping);
    assert.equal(started.chat, 'typ-alice');
    assert.equal(started.from, 'typ-alice');
    assert.equal(started.fromDevice, 1);
    assert.equal(started.state, 'started');
    assert.ok(started.expiresAt >= before + TYPING_EXPIRY_MS);

    assert.equal(await alice.chat.typing('typ-bob', 'stopped'), true);
    const stopped = await nextEvent(bobEvents, isTyping);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.chat, 'typ-alice');
  });

  it('the setting off: the sender sends nothing, the receiver reports nothing', async () => {
    const alice = await device('typ-carol');
    const bob = await device('typ-dave');
    const bobEvents = bob.events[Symbol.asyncIterator]();
    const aliceEvents = alice.events[Symbol.asyncIterator]();

    await alice.chat.setTypingEnabled(false);
    assert.equal(await alice.chat.typingEnabled(), false);
    assert.equal(await alice.chat.typing('typ-dave', 'started'), false);
    await alice.sendText(parseAccountName('typ-dave'), 'after typing');
    assert.equal((await messageWithoutTyping(bobEvents)).message.text, 'after typing');

    // Back on at the sender, off at the receiver: sent, but not reported.
    await alice.chat.setTypingEnabled(true);
    await bob.chat.setTypingEnabled(false);
    assert.equal(await alice.chat.typing('typ-dave', 'started'), true);
    await alice.sendText(parseAccountName('typ-dave'), 'after typing 2');
    assert.equal((await messageWithoutTyping(bobEvents)).message.text, 'after typing 2');

    // And bob's own indicators, with his setting off, are not sent to alice.
    assert.equal(await bob.chat.typing('typ-carol', 'started'), false);
    await bob.sendText(parseAccountName('typ-carol'), 'from dave');
    assert.equal((await messageWithoutTyping(aliceEvents)).message.text, 'from dave');

    // On again: reported.
    await bob.chat.setTypingEnabled(true);
    await alice.chat.typing('typ-dave', 'started');
    assert.equal((await nextEvent(bobEvents, isTyping)).state, 'started');
  });

  it('refuses an unknown group, this account itself and an unknown state', async () => {
    const alice = await device('typ-erin');
    const invalid = (error: unknown): boolean =>
      error instanceof ClientError && error.code === 'invalid-argument';
    // Group indicators: test/sdk/group-typing.test.ts; a group the server
    // does not know is its refusal.
    await assert.rejects(
      alice.chat.typing('0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b', 'started'),
      (error) => ClientError.isServer(error, 'unknown-group'),
    );
    await assert.rejects(alice.chat.typing('typ-erin', 'started'), invalid);
    await assert.rejects(alice.chat.typing('typ-bob', 'typing' as unknown as 'started'), invalid);
  });
});
