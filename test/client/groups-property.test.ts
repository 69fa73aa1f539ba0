/**
 * Model-based property test (fast-check) against the real server
 * in-process with memory stores: random sequences of group sends, adds,
 * removes, companion links and unlinks. Checked for every message:
 *
 * - every device that is a member device when it is sent stores it exactly
 *   once (as outgoing on the sender's own account, incoming elsewhere);
 * - no other device stores it: a removed account (still connected), an
 *   unlinked companion, an account never added;
 * - none of those can decrypt the ciphertext the server was given, with
 *   the sender keys in their own stores;
 * - a sender whose key reached a device that has left since (a removed
 *   member, an unlinked companion) uses a new chain.
 *
 * Every generated sequence contains a departure after its key was handed
 * out (a removal or an unlink), so every case exercises rotation and the
 * test asserts that it did. Runs once with a fixed seed and once with a
 * random one (test/property.ts; QUINTET_PROPERTY_SEED replays a failure).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { RunningServer } from '../../src/server/main.js';
import type { QuintetClient } from '../../src/client/core/client.js';
import { toHex } from '../../src/client/core/bytes.js';
import type { ClientEvent } from '../../src/client/core/events.js';
import { SenderKeyMessage } from '../../src/protocol/sender-key-messages.js';
import { checkProperty } from '../property.js';
import {
  SendRecorder,
  linkDevice,
  registerDevice,
  testServer,
  tryGroupDecrypt,
  unlinkDevice,
  type EventQueue,
  type TestDevice,
} from './helpers/clients.js';

type Op =
  | { readonly kind: 'send'; readonly from: number }
  | { readonly kind: 'add' | 'remove'; readonly who: number }
  | { readonly kind: 'link' | 'unlink' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      from: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('add' as const, 'remove' as const),
      who: fc.integer({ min: 1, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constantFrom('link' as const, 'unlink' as const) }),
  },
);

/**
 * A departure after the admin's key reached the departing device, so the
 * admin's next send must rotate: b is added, gets a's key, then b (or b's
 * companion) leaves and a sends again.
 */
const departure: fc.Arbitrary<Op[]> = fc.constantFrom<Op[]>(
  [
    { kind: 'add', who: 1 },
    { kind: 'send', from: 0 },
    { kind: 'remove', who: 1 },
    { kind: 'send', from: 0 },
  ],
  [
    { kind: 'add', who: 1 },
    { kind: 'link' },
    { kind: 'send', from: 0 },
    { kind: 'unlink' },
    { kind: 'send', from: 0 },
  ],
);

/** Random operations with a departure somewhere in the middle. */
const ops: fc.Arbitrary<Op[]> = fc
  .tuple(fc.array(op, { maxLength: 5 }), departure, fc.array(op, { maxLength: 4 }))
  .map(([head, middle, tail]) => [...head, ...middle, ...tail]);

interface Device {
  readonly device: TestDevice;
  /** `account.deviceId` */
  readonly label: string;
  readonly account: string;
  readonly deviceId: number;
  client: QuintetClient;
  events: EventQueue;
  recorder: SendRecorder;
}

interface Sent {
  readonly id: string;
  readonly from: Device;
  /** Labels that must store it (once). */
  readonly should: ReadonlySet<string>;
}

/** An event already seen by `queue` or the next one matching. */
async function seenOrNext<T extends ClientEvent['type']>(
  queue: EventQueue,
  type: T,
  where: (event: Extract<ClientEvent, { type: T }>) => boolean,
): Promise<void> {
  if (queue.all(type).some(where)) return;
  await queue.next(type, 8_000, where);
}

let run = 0;
let totalRotations = 0;

describe('groups property (real server)', { timeout: 600_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('members read exactly what was sent while they were members; leavers read nothing', async () => {
    await checkProperty(
      fc.asyncProperty(ops, async (steps) => {
        run++;
        const names = [`p${run}-a`, `p${run}-b`, `p${run}-c`];
        const primaries = await Promise.all(names.map((n) => registerDevice(server, n)));
        const goOnline = async (device: TestDevice, account: string, deviceId: number) => {
          const recorder = new SendRecorder();
          const { client, events } = await device.online({ wrap: recorder.wrap });
          return {
            device,
            account,
            deviceId,
            label: `${account}.${deviceId}`,
            client,
            events,
            recorder,
          };
        };
        const primary: Device[] = [];
        for (const [i, device] of primaries.entries()) {
          primary.push(await goOnline(device, names[i] ?? '', 1));
        }
        const [admin, b] = primary;
        assert.ok(admin !== undefined && b !== undefined);
        const members = new Set([admin.account]);
        const group = await admin.client.groups.create('prop', []);
        let companion: Device | undefined;
        /** Unlinked companions: closed, and kept to check they got nothing. */
        const unlinked: Device[] = [];
        const sent: Sent[] = [];
        /** Per sending device: the chain of its last message and who may hold it. */
        const chains = new Map<string, { chainId: number; holders: Set<string> }>();
        let mustRotate = 0;
        /** Connected devices (current companions included). */
        const connected = (): Device[] =>
          companion === undefined ? primary : [...primary, companion];

        try {
          for (const step of steps) {
            if (step.kind === 'send') {
              const sender = primary[step.from];
              if (sender === undefined || !members.has(sender.account)) continue;
              const memberDevices = new Set(
                connected()
                  .filter((d) => members.has(d.account))
                  .map((d) => d.label),
              );
              const result = await sender.client.groups.send(group.groupId, `m${sent.length}`);
              const should = new Set([...memberDevices].filter((l) => l !== sender.label));
              const id = toHex(result.message.id);
              sent.push({ id, from: sender, should });

              // Rotation: the chain must change when a device that may hold
              // the sender's current key is no longer a member device.
              const ciphertext = sender.recorder.last();
              const chainId = SenderKeyMessage.deserialize(ciphertext).chainId;
              const previous = chains.get(sender.label);
              const departed = [...(previous?.holders ?? [])].filter((l) => !memberDevices.has(l));
              if (previous !== undefined && departed.length > 0) {
                mustRotate++;
                assert.notEqual(
                  chainId,
                  previous.chainId,
                  `${sender.label} must rotate: ${departed.join(', ')} left since its last send`,
                );
              }
              if (previous !== undefined && chainId !== previous.chainId) totalRotations++;
              const holders =
                previous === undefined || chainId !== previous.chainId
                  ? new Set(should)
                  : new Set([...previous.holders, ...should]);
              chains.set(sender.label, { chainId, holders });

              // Nobody outside the member devices can read what the server
              // was given, with the keys in their own stores.
              const outsiders = [...connected(), ...unlinked].filter(
                (d) => !memberDevices.has(d.label),
              );
              for (const d of outsiders) {
                const outcome = await tryGroupDecrypt(
                  d.device.store,
                  sender.account,
                  sender.deviceId,
                  ciphertext,
                );
                assert.notEqual(outcome, 'decrypted', `${d.label} must not decrypt ${id}`);
              }
              for (const d of connected().filter((x) => should.has(x.label))) {
                await seenOrNext(d.events, 'message', (e) => toHex(e.message.id) === id);
              }
            } else if (step.kind === 'add' || step.kind === 'remove') {
              const name = names[step.who] ?? '';
              if ((step.kind === 'add') === members.has(name)) continue;
              const view =
                step.kind === 'add'
                  ? await admin.client.groups.add(group.groupId, name)
                  : await admin.client.groups.remove(group.groupId, name);
              if (step.kind === 'add') members.add(name);
              else members.delete(name);
              // The target's devices learn of the change by a push; until
              // they have verified it, a re-added member's client still
              // (rightly) refuses to send. Wait for it, as a user would.
              for (const d of connected().filter((x) => x.account === name)) {
                await seenOrNext(d.events, 'group-changed', (e) => e.version >= view.version);
              }
            } else if (step.kind === 'link' && companion === undefined) {
              // One connection per device: b's primary steps aside while it
              // approves the link.
              await b.client.close();
              const linked = await linkDevice(server, b.device, 'companion');
              companion = await goOnline(linked, b.account, linked.deviceId);
              const reopened = await goOnline(b.device, b.account, 1);
              Object.assign(b, { client: reopened.client, events: reopened.events });
              b.recorder = reopened.recorder;
            } else if (step.kind === 'unlink' && companion !== undefined) {
              await companion.client.close();
              await b.client.close();
              await unlinkDevice(server, b.device, companion.deviceId);
              const reopened = await goOnline(b.device, b.account, 1);
              Object.assign(b, { client: reopened.client, events: reopened.events });
              b.recorder = reopened.recorder;
              unlinked.push(companion);
              companion = undefined;
            }
          }
          assert.ok(mustRotate >= 1, 'every case must exercise rotation');

          for (const d of connected()) await d.client.idle();
          for (const { id, from, should } of sent) {
            for (const d of [...connected(), ...unlinked]) {
              const stored = (await d.device.store.messages.list(group.groupId)).filter(
                (m) => toHex(m.id) === id,
              );
              if (d.label === from.label) {
                // The sending device keeps exactly its own outgoing copy.
                assert.equal(stored.length, 1, `${d.label} must keep its sent ${id} once`);
                assert.equal(stored[0]?.outgoing, true, `${d.label} must keep ${id} as outgoing`);
              } else if (should.has(d.label)) {
                // A device of the sender's account stores the message as
                // outgoing (group-receive.ts: source === own account).
                const own = d.account === from.account;
                assert.equal(
                  stored.length,
                  1,
                  `${d.label} must store ${id} (from ${from.label}) once`,
                );
                assert.equal(
                  stored[0]?.outgoing,
                  own,
                  `${d.label} must store ${id} (from ${from.label}) as ${own ? 'outgoing' : 'incoming'}`,
                );
              } else {
                assert.equal(
                  stored.length,
                  0,
                  `${d.label} must not store ${id} (from ${from.label})`,
                );
              }
            }
          }
        } finally {
          for (const d of connected()) await d.client.close();
        }
      }),
      // The report carries the failed assertion ("p-b.2 must store … once"),
      // not only the counterexample, so a failure says what was missing.
      { numRuns: 25, includeErrorInReport: true, endOnFailure: true },
    );
    // Every case contains a departure, so rotations happen in every run.
    assert.ok(totalRotations >= run, `${totalRotations} rotations in ${run} cases`);
    console.log(`groups property: ${run} cases, ${totalRotations} rotations`);
  });
});
