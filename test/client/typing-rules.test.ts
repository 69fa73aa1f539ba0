/** Which received `TypingMessage`s become a `typing` event (client/core/typing.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { TypingMessage_Action, TypingMessageSchema } from '../../src/gen/quintet/v1/content_pb.js';
import { groupTypingEvent, TYPING_EXPIRY_MS, typingEvent } from '../../src/client/core/typing.js';
import { parseGroupId } from '../../src/client/core/groups/group-id.js';

const self = { account: 'me' };
const peer = { account: 'peer', deviceId: 2 };
const own = { account: 'me', deviceId: 3 };
const NOW = 1_700_000_000_000;

function typing(fields: { action?: TypingMessage_Action; chat?: string; groupId?: Uint8Array }) {
  return create(TypingMessageSchema, { action: TypingMessage_Action.STARTED, ...fields });
}

describe('typing events', () => {
  it('a peer typing shows in the chat with the peer, until the expiry', () => {
    const event = typingEvent(typing({}), peer, self, NOW);
    assert.deepEqual(event, {
      type: 'typing',
      chat: 'peer',
      from: 'peer',
      fromDevice: 2,
      state: 'started',
      expiresAt: NOW + TYPING_EXPIRY_MS,
    });
    const stopped = typingEvent(typing({ action: TypingMessage_Action.STOPPED }), peer, self, NOW);
    assert.equal(stopped?.state, 'stopped');
    assert.equal(stopped?.expiresAt, NOW);
  });

  it('an own device names the chat; a peer may not', () => {
    assert.equal(typingEvent(typing({ chat: 'bob' }), own, self, NOW)?.chat, 'bob');
    assert.equal(typingEvent(typing({}), own, self, NOW), undefined);
    assert.equal(typingEvent(typing({ chat: 'me' }), own, self, NOW), undefined);
    assert.equal(typingEvent(typing({ chat: 'someone-else' }), peer, self, NOW), undefined);
  });

  it('drops an unknown action and a pairwise claim of a group', () => {
    const unknown = typing({ action: TypingMessage_Action.UNSPECIFIED });
    assert.equal(typingEvent(unknown, peer, self, NOW), undefined);
    assert.equal(typingEvent(typing({ groupId: new Uint8Array(16) }), peer, self, NOW), undefined);
  });

  it('a group indicator shows in the group chat, from the member or an own device', () => {
    const group = parseGroupId('0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b');
    assert.deepEqual(groupTypingEvent(typing({}), group, peer, NOW), {
      type: 'typing',
      chat: group,
      from: 'peer',
      fromDevice: 2,
      state: 'started',
      expiresAt: NOW + TYPING_EXPIRY_MS,
    });
    assert.equal(groupTypingEvent(typing({}), group, own, NOW)?.from, 'me');
    const stopped = groupTypingEvent(
      typing({ action: TypingMessage_Action.STOPPED }),
      group,
      peer,
      NOW,
    );
    assert.equal(stopped?.expiresAt, NOW);
    // A group indicator names no 1:1 chat, and an unknown action is dropped.
    assert.equal(groupTypingEvent(typing({ chat: 'bob' }), group, own, NOW), undefined);
    const unknown = typing({ action: TypingMessage_Action.UNSPECIFIED });
    assert.equal(groupTypingEvent(unknown, group, peer, NOW), undefined);
  });
});
