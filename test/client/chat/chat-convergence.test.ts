/**
 * Convergence property (fast-check, test/property.ts): random sends,
 * replies, edits, deletes, reactions, timer changes and deletes-for-me
 * across four devices (alice 1 and 2, bob 1 and 2), each device getting
 * every event in its own random order, some twice, at its own random
 * arrival times, then one expiry sweep at the same time on all. Every
 * device goes through the content decoder and the store-backed apply
 * (chat-apply.ts) over its own memory store.
 *
 * Checked: the two devices of an account end in exactly the same chat
 * state (messages, edits, deletions, reactions, replies, expiry, timer
 * setting); alice's and bob's devices end in the same state for every
 * message no one deleted for themselves (delete-for-me stays within the
 * account that did it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { create } from '@bufbuild/protobuf';
import { DeleteForMeSchema } from '../../../src/gen/quintet/v1/content_pb.js';
import {
  applyChatData,
  applyDeleteForMe,
  sweepExpired,
} from '../../../src/client/core/chat/chat-apply.js';
import { DEFAULT_CHAT_RULES } from '../../../src/client/core/chat/chat-rules.js';
import { toHex } from '../../../src/client/core/bytes.js';
import {
  createDeviceStore,
  type DeviceStore,
} from '../../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../../src/client/core/store/memory-backend.js';
import type { StoredMessage } from '../../../src/client/core/store/records.js';
import type { DataMessage } from '../../../src/gen/quintet/v1/content_pb.js';
import { checkProperty } from '../../property.js';
import { DAY, MIN, T0, data, idOf } from './chat-helpers.js';

const DEVICES = [
  { account: 'alice', deviceId: 1 },
  { account: 'alice', deviceId: 2 },
  { account: 'bob', deviceId: 1 },
  { account: 'bob', deviceId: 2 },
] as const;

const peer = (account: string): string => (account === 'alice' ? 'bob' : 'alice');

type Kind = 'send' | 'edit' | 'delete' | 'react' | 'timer' | 'delete-for-me';

interface OpSpec {
  readonly device: number;
  readonly kind: Kind;
  readonly target: number;
  readonly offset: number;
  readonly emoji: string;
  readonly timer: number;
  readonly reply: boolean;
}

/** One generated event, as its author sends it. */
interface Op {
  readonly author: (typeof DEVICES)[number];
  readonly data?: DataMessage;
  /** For delete-for-me: the message it hides (only on the author's account). */
  readonly hide?: { readonly author: string; readonly id: Uint8Array };
}

/** Turns generated specs into concrete events with deterministic ids and times. */
function buildOps(specs: readonly OpSpec[]): Op[] {
  const sends: Array<{ author: string; id: Uint8Array; sentAt: number }> = [];
  const ops: Op[] = [];
  specs.forEach((spec, i) => {
    const author = DEVICES[spec.device % DEVICES.length] ?? DEVICES[0];
    const eventId = idOf(i + 1);
    const sentAt = T0 + i * MIN;
    // The first event is always a send; later ones name an earlier send.
    const target = sends[spec.target % Math.max(1, sends.length)] ?? {
      author: author.account,
      id: eventId,
      sentAt,
    };
    const ref = { author: target.author, messageId: target.id };
    const kind: Kind = sends.length === 0 && spec.kind !== 'timer' ? 'send' : spec.kind;
    switch (kind) {
      case 'send':
        sends.push({ author: author.account, id: eventId, sentAt });
        ops.push({
          author,
          data: data({
            messageId: eventId,
            text: `text ${i}`,
            timestamp: BigInt(sentAt),
            expireTimer: spec.timer,
            ...(spec.reply && sends.length > 1
              ? { quote: { target: ref, snippet: 'quoted' } }
              : {}),
          }),
        });
        return;
      case 'edit':
        ops.push({
          author,
          data: data({
            messageId: eventId,
            // Up to 20 minutes after the message: some edits come too late.
            timestamp: BigInt(target.sentAt + (spec.offset % (20 * MIN))),
            event: { case: 'edit', value: { target: ref, text: `edit ${i}` } },
          }),
        });
        return;
      case 'delete':
        ops.push({
          author,
          data: data({
            messageId: eventId,
            timestamp: BigInt(target.sentAt + spec.offset),
            event: { case: 'delete', value: { target: ref } },
          }),
        });
        return;
      case 'react':
        ops.push({
          author,
          data: data({
            messageId: eventId,
            timestamp: BigInt(target.sentAt + (spec.offset % (10 * MIN))),
            event: {
              case: 'reaction',
              value: { target: ref, emoji: spec.emoji, remove: spec.emoji === '' },
            },
          }),
        });
        return;
      case 'timer':
        ops.push({
          author,
          data: data({
            messageId: eventId,
            timestamp: BigInt(sentAt),
            expireTimer: spec.timer,
            event: { case: 'timerChange', value: { seconds: spec.timer } },
          }),
        });
        return;
      case 'delete-for-me':
        ops.push({ author, hide: { author: target.author, id: target.id } });
        return;
    }
  });
  return ops;
}

/** Delivers `op` to `device` (account of the device decides the chat and direction). */
async function deliver(
  store: DeviceStore,
  device: (typeof DEVICES)[number],
  op: Op,
  now: number,
): Promise<void> {
  const own = op.author.account === device.account;
  const env = { now, rules: DEFAULT_CHAT_RULES };
  await store.transaction(async (tx) => {
    if (op.data === undefined) {
      if (op.hide === undefined) throw new Error('an op is a data message or a delete-for-me');
      const sync = create(DeleteForMeSchema, {
        chat: peer(device.account),
        targets: [{ author: op.hide.author, messageId: op.hide.id }],
        timestamp: BigInt(now),
      });
      await applyDeleteForMe(
        tx,
        { sender: op.author.account, senderDevice: op.author.deviceId },
        sync,
        env,
      );
      return;
    }
    await applyChatData(
      tx,
      {
        chat: own ? peer(device.account) : op.author.account,
        sender: op.author.account,
        senderDevice: op.author.deviceId,
        outgoing: own,
      },
      op.data,
      env,
    );
  });
}

/** What every device must agree on about a message. */
function projection(message: StoredMessage): unknown {
  return {
    sender: message.sender,
    senderDevice: message.senderDevice,
    text: message.text,
    sentAt: message.sentAt,
    deleted: message.deleted ?? null,
    edit:
      message.edit === undefined
        ? null
        : [message.edit.at, message.edit.device, toHex(message.edit.eventId)],
    reactions: Object.entries(message.reactions ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([who, m]) => [who, m.emoji, m.removed, m.at, m.device, toHex(m.eventId)]),
    replyTo:
      message.replyTo === undefined
        ? null
        : [message.replyTo.author, toHex(message.replyTo.id), message.replyTo.snippet],
    expiresAt: message.expiresAt ?? null,
    timerChange: message.timerChange ?? null,
    attachment: message.attachment !== undefined,
  };
}

async function stateOf(store: DeviceStore, chat: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const message of await store.messages.list(chat)) {
    out.set(toHex(message.id), projection(message));
  }
  out.set('timer', (await store.chat.timer(chat))?.seconds ?? 0);
  return out;
}

const specArb = fc.record({
  device: fc.integer({ min: 0, max: 3 }),
  kind: fc.constantFrom<Kind>(
    'send',
    'send',
    'send',
    'edit',
    'delete',
    'react',
    'react',
    'timer',
    'delete-for-me',
  ),
  target: fc.nat(),
  offset: fc.integer({ min: 0, max: 3 * DAY }),
  emoji: fc.constantFrom('👍', '❤️', '😂', ''),
  timer: fc.constantFrom(0, 0, 86_400),
  reply: fc.boolean(),
});

/** Per device: a sort key per op (its delivery order), a repeat flag, an arrival time per delivery. */
const deliveryArb = fc.record({
  order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 30, maxLength: 30 }),
  repeat: fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
  arrivals: fc.array(fc.integer({ min: 0, max: 3 * DAY }), { minLength: 60, maxLength: 60 }),
});

describe('chat state convergence (property)', () => {
  it('converges on every device for any order of the same events', async () => {
    await checkProperty(
      fc.asyncProperty(
        fc.array(specArb, { minLength: 1, maxLength: 30 }),
        fc.array(deliveryArb, { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 * DAY }),
        async (specs, deliveries, sweepOffset) => {
          const ops = buildOps(specs);
          const sweepAt = T0 + sweepOffset;
          const states: Array<Map<string, unknown>> = [];
          for (const [index, device] of DEVICES.entries()) {
            const plan = deliveries[index];
            if (plan === undefined) throw new Error('one delivery plan per device');
            const store = createDeviceStore(new MemoryBackend());
            const mine = ops
              .map((op, i) => ({ op, key: plan.order[i] ?? 0, again: plan.repeat[i] === true }))
              .filter(({ op }) => op.hide === undefined || op.author.account === device.account);
            const sequence = [
              ...mine,
              ...mine.filter((m) => m.again).map((m) => ({ ...m, key: 1 - m.key })),
            ]
              .sort((a, b) => a.key - b.key)
              .map((m) => m.op);
            // Arrival times rise along the device's sequence, all before the sweep.
            const times = plan.arrivals
              .slice(0, sequence.length)
              .map((t) => T0 + (t % (sweepOffset + 1)))
              .sort((a, b) => a - b);
            for (const [i, op] of sequence.entries())
              await deliver(store, device, op, times[i] ?? T0);
            await store.transaction((tx) => sweepExpired(tx, sweepAt, 10_000));
            states.push(await stateOf(store, peer(device.account)));
          }
          assert.deepEqual(states[1], states[0], 'alice 1 and alice 2 differ');
          assert.deepEqual(states[3], states[2], 'bob 1 and bob 2 differ');
          const hidden = new Set(ops.flatMap((op) => (op.hide ? [toHex(op.hide.id)] : [])));
          const shared = (state: Map<string, unknown>) =>
            new Map([...state].filter(([key]) => !hidden.has(key)));
          const [alice, , bob] = states;
          assert.ok(alice !== undefined && bob !== undefined);
          assert.deepEqual(shared(bob), shared(alice), 'alice and bob differ');
        },
      ),
      { numRuns: 150 },
    );
  });
});
