/**
 * Typing indicators in a group through the SDK (`device.chat.typing` with a
 * group chat id) against the real server: they reach the member devices
 * connected right now — the typing member's own other device included —
 * as `typing` events naming the group chat; a non-member and a removed
 * member get none; a device that was offline never gets one later. "Got
 * none" is shown without timing: a message sent afterwards on the same
 * path arrives with no `typing` event before it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import {
  ClientError,
  linkDevice,
  nodePlatform,
  parseAccountName,
  QuintetDevice,
  type MessageEvent,
  type QuintetEvent,
  type TypingEvent,
} from '../../src/sdk/index.js';
import { memoryStore, nextEvent, registeredDevice, sdkServer } from './helpers.js';

const isTyping = (event: QuintetEvent): event is TypingEvent => event.type === 'typing';
const isMessage = (event: QuintetEvent): event is MessageEvent => event.type === 'message';

/** Reads up to the next message event; fails if a `typing` event comes first. */
async function messageWithoutTyping(events: AsyncIterator<QuintetEvent>): Promise<MessageEvent> {
  const seen = await nextEvent(
    events,
    (event): event is MessageEvent | TypingEvent => isMessage(event) || isTyping(event),
  );
  assert.equal(seen.type, 'message', `an unexpected typing event arrived: ${JSON.stringify(seen)}`);
  return seen;
}

/** Reads up to the next typing event, checking who types where. */
async function typingFrom(
  events: AsyncIterator<QuintetEvent>,
  chat: string,
  from: string,
  state: TypingEvent['state'] = 'started',
): Promise<void> {
  const event = await nextEvent(events, isTyping);
  assert.deepEqual(
    { chat: event.chat, from: event.from, state: event.state },
    { chat, from, state },
  );
}

describe('SDK: typing indicators in groups', { timeout: 180_000 }, () => {
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

  /** Links a companion of `primary` (no history) and opens it. */
  async function companion(primary: QuintetDevice, name: string): Promise<QuintetDevice> {
    let approval: Promise<unknown> | undefined;
    const made = await linkDevice({
      store: memoryStore(),
      platform: nodePlatform,
      servers: server.url,
      deviceName: name,
      onEvent: (event) => {
        if (event.type === 'link-code' && approval === undefined) {
          approval = primary.approve(event.text, { authorize: async () => {}, history: 'none' });
        }
      },
    });
    await approval;
    // The test closes and reopens it: the store outlives the device.
    const opened_ = await QuintetDevice.open({
      store: made.store,
      platform: nodePlatform,
      ownsStore: false,
    });
    opened.push(opened_);
    await opened_.ready();
    return opened_;
  }

  it('reaches connected member devices only, never later, never a non-member', async () => {
    const alice = await device('gt-alice');
    const bob = await device('gt-bob');
    const carol = await device('gt-carol');
    const dave = await device('gt-dave');
    const bob2 = await companion(bob, 'gt-bob-laptop');
    const events = {
      alice: alice.events[Symbol.asyncIterator](),
      bob: bob.events[Symbol.asyncIterator](),
      bob2: bob2.events[Symbol.asyncIterator](),
      carol: carol.events[Symbol.asyncIterator](),
      dave: dave.events[Symbol.asyncIterator](),
    };
    const group = await alice.groups((g) => g.create('typists', ['gt-bob', 'gt-carol']));
    const chat = group.groupId;

    // No member device holds alice's sender key before her first message:
    // an indicator could not be read, so none is posted.
    assert.equal(await alice.chat.typing(chat, 'started'), false);
    await alice.groups((g) => g.send(chat, 'hello typists'));
    for (const reader of [events.bob, events.bob2, events.carol]) {
      assert.equal((await messageWithoutTyping(reader)).message.text, 'hello typists');
    }

    assert.equal(await alice.chat.typing(chat, 'started'), true);
    for (const reader of [events.bob, events.bob2, events.carol]) {
      await typingFrom(reader, chat, 'gt-alice');
    }
    assert.equal(await alice.chat.typing(chat, 'stopped'), true);
    for (const reader of [events.bob, events.bob2, events.carol]) {
      await typingFrom(reader, chat, 'gt-alice', 'stopped');
    }

    // A non-member got nothing: alice's next 1:1 text comes first.
    await alice.sendText(parseAccountName('gt-dave'), 'not in the group');
    assert.equal((await messageWithoutTyping(events.dave)).message.text, 'not in the group');
    // And cannot send one into the group: the server will not serve it the group.
    await assert.rejects(dave.chat.typing(chat, 'started'), (error) =>
      ClientError.isServer(error, 'not-group-member'),
    );

    // Bob types: alice sees him, and so does his own laptop (same chat, from bob).
    await bob.groups((g) => g.send(chat, 'bob here'));
    assert.equal((await messageWithoutTyping(events.alice)).message.text, 'bob here');
    assert.equal((await messageWithoutTyping(events.bob2)).message.text, 'bob here');
    assert.equal((await messageWithoutTyping(events.carol)).message.text, 'bob here');
    assert.equal(await bob.chat.typing(chat, 'started'), true);
    await typingFrom(events.alice, chat, 'gt-bob');
    await typingFrom(events.bob2, chat, 'gt-bob');
    await typingFrom(events.carol, chat, 'gt-bob');

    // Offline: bob's laptop is closed while alice types, then reopened.
    await bob2.close();
    assert.equal(await alice.chat.typing(chat, 'started'), true);
    await typingFrom(events.bob, chat, 'gt-alice');
    await typingFrom(events.carol, chat, 'gt-alice');
    await alice.groups((g) => g.send(chat, 'while you were away'));
    const reopened = await QuintetDevice.open({ store: bob2.store, platform: nodePlatform });
    opened.push(reopened);
    const laterEvents = reopened.events[Symbol.asyncIterator]();
    assert.equal((await messageWithoutTyping(laterEvents)).message.text, 'while you were away');
    assert.equal((await messageWithoutTyping(events.bob)).message.text, 'while you were away');
    assert.equal((await messageWithoutTyping(events.carol)).message.text, 'while you were away');

    // A removed member: carol gets nothing of what alice types afterwards.
    await alice.groups((g) => g.remove(chat, 'gt-carol'));
    await alice.groups((g) => g.send(chat, 'after carol'));
    assert.equal((await messageWithoutTyping(events.bob)).message.text, 'after carol');
    assert.equal(await alice.chat.typing(chat, 'started'), true);
    await typingFrom(events.bob, chat, 'gt-alice');
    await alice.sendText(parseAccountName('gt-carol'), 'you were removed');
    assert.equal((await messageWithoutTyping(events.carol)).message.text, 'you were removed');
  });
});
