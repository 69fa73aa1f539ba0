/**
 * Model-based property test (after libsignal's `proptest_session_resets`):
 * random interleavings of send / deliver (in any order) / drop / replay /
 * restart-from-stored-bytes / re-initiate between two parties.
 *
 * Properties:
 * - a delivered message decrypts to what was sent, unless its receiving
 *   chain was legitimately discarded (more than MAX_RECEIVER_CHAINS newer
 *   chains), in which case it fails with 'bad-mac';
 * - a message never decrypts twice: a replay fails ('duplicate-message'
 *   while its chain is kept);
 * - a failed decryption leaves every store byte-for-byte unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { bytesEqual } from '../../src/protocol/bytes.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { PreKeySignalMessage } from '../../src/protocol/prekey-signal-message.js';
import { processPreKeyBundle } from '../../src/protocol/session-builder.js';
import { SessionCipher, type CiphertextMessage } from '../../src/protocol/session-cipher.js';
import { SessionRecord } from '../../src/protocol/session-record.js';
import { SignalMessage } from '../../src/protocol/signal-message.js';
import { createMemoryStores, type MemoryProtocolStores } from '../../src/protocol/stores/memory.js';
import { PreKeyRecord, SignedPreKeyRecord } from '../../src/protocol/prekey-records.js';
import { fromUtf8, makeParty, snapshotStores, utf8, type Party } from './session-helpers.js';

type Side = 'A' | 'B';
type Command =
  | { t: 'send'; from: Side }
  | { t: 'deliver'; to: Side; pick: number }
  | { t: 'drop'; to: Side; pick: number }
  | { t: 'replay'; to: Side; pick: number }
  | { t: 'restart'; who: Side }
  | { t: 'reinit'; who: Side };

const side = fc.constantFrom<Side>('A', 'B');
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('send' as const), from: side }) },
  {
    weight: 5,
    arbitrary: fc.record({ t: fc.constant('deliver' as const), to: side, pick: fc.nat() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('drop' as const), to: side, pick: fc.nat() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('replay' as const), to: side, pick: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), who: side }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reinit' as const), who: side }) },
);

interface Sent {
  readonly message: CiphertextMessage;
  readonly text: string;
  readonly ratchetKey: Uint8Array;
}

interface Peer {
  party: Party;
  stores: MemoryProtocolStores;
  /** Messages addressed to this peer, not yet delivered or dropped. */
  inbox: Sent[];
  /** Messages this peer already decrypted. */
  delivered: Sent[];
  /** Ratchet keys this peer has decrypted at least one message under. */
  seenKeys: Uint8Array[];
  sent: number;
}

/** Rebuilds a party's stores from what they hold, as after a process restart. */
async function restart(peer: Peer): Promise<void> {
  const old = peer.stores;
  const fresh = createMemoryStores(
    await old.identity.getIdentityKeyPair(),
    await old.identity.getLocalRegistrationId(),
  );
  for (const [, bytes] of old.preKeys.snapshot()) {
    const r = PreKeyRecord.deserialize(bytes);
    await fresh.preKeys.storePreKey(r.id, r);
  }
  for (const [, bytes] of old.signedPreKeys.snapshot()) {
    const r = SignedPreKeyRecord.deserialize(bytes);
    await fresh.signedPreKeys.storeSignedPreKey(r.id, r);
  }
  const other =
    peer.party.name === 'alice'
      ? { name: 'bob', deviceId: peer.party.address.deviceId }
      : { name: 'alice', deviceId: peer.party.address.deviceId };
  const identity = await old.identity.getIdentity(other);
  if (identity !== undefined) await fresh.identity.saveIdentity(other, identity);
  for (const [, bytes] of old.sessions.snapshot())
    await fresh.sessions.storeSession(other, SessionRecord.deserialize(bytes));
  assert.equal(snapshotStores(fresh), snapshotStores(old), 'a restart restores every byte');
  peer.stores = fresh;
}

function ratchetKeyOf(message: CiphertextMessage): Uint8Array {
  return message.type === 'prekey'
    ? PreKeySignalMessage.deserialize(message.body).message.senderRatchetKeyBytes
    : SignalMessage.deserialize(message.body).senderRatchetKeyBytes;
}

async function hasChain(
  stores: MemoryProtocolStores,
  from: Party,
  key: Uint8Array,
): Promise<boolean> {
  const record = await stores.sessions.loadSession(from.address);
  if (record === undefined) return false;
  const states = [record.current, ...record.previous];
  return states.some((s) => s?.receiverChains.some((c) => bytesEqual(c.ratchetKey, key)) === true);
}

describe('session property: random interleavings', { timeout: 300_000 }, () => {
  it('never loses, never repeats, never changes stores on failure', async () => {
    await checkProperty(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 1, maxLength: 60, size: 'max' }),
        async (commands) => {
          const pa = await makeParty('alice', 1);
          const pb = await makeParty('bob', 1);
          const peers: Record<Side, Peer> = {
            A: { party: pa, stores: pa.stores, inbox: [], delivered: [], seenKeys: [], sent: 0 },
            B: { party: pb, stores: pb.stores, inbox: [], delivered: [], seenKeys: [], sent: 0 },
          };
          const otherOf = (s: Side): Side => (s === 'A' ? 'B' : 'A');
          const cipher = (s: Side): SessionCipher =>
            new SessionCipher(peers[s].party.ctx, peers[s].stores, peers[otherOf(s)].party.address);
          await processPreKeyBundle(pa.ctx, pa.stores, pb.address, await pb.bundle());

          const decrypt = (to: Side, m: CiphertextMessage): Promise<Uint8Array> =>
            m.type === 'prekey'
              ? cipher(to).decryptPreKeySignalMessage(m.body)
              : cipher(to).decryptSignalMessage(m.body);

          for (const c of commands) {
            switch (c.t) {
              case 'send': {
                const peer = peers[c.from];
                if (!(await cipher(c.from).hasOpenSession())) {
                  await assert.rejects(cipher(c.from).encrypt(utf8('x')), (e: unknown) =>
                    ProtocolError.is(e, 'no-session'),
                  );
                  break;
                }
                const text = `${c.from}#${peer.sent++}`;
                const message = await cipher(c.from).encrypt(utf8(text));
                peers[otherOf(c.from)].inbox.push({
                  message,
                  text,
                  ratchetKey: ratchetKeyOf(message),
                });
                break;
              }
              case 'deliver': {
                const peer = peers[c.to];
                if (peer.inbox.length === 0) break;
                const [item] = peer.inbox.splice(c.pick % peer.inbox.length, 1);
                if (item === undefined) break;
                const before = snapshotStores(peer.stores);
                const chainKept = await hasChain(
                  peer.stores,
                  peers[otherOf(c.to)].party,
                  item.ratchetKey,
                );
                try {
                  assert.equal(fromUtf8(await decrypt(c.to, item.message)), item.text);
                  peer.delivered.push(item);
                  if (!peer.seenKeys.some((k) => bytesEqual(k, item.ratchetKey)))
                    peer.seenKeys.push(item.ratchetKey);
                } catch (error) {
                  // Only a chain the receiver already used and has since discarded may lose a message.
                  const seen = peer.seenKeys.some((k) => bytesEqual(k, item.ratchetKey));
                  assert.ok(
                    ProtocolError.is(error, 'bad-mac') && seen && !chainKept,
                    `lost ${item.text}: ${String(error)}`,
                  );
                  assert.equal(snapshotStores(peer.stores), before);
                }
                break;
              }
              case 'drop': {
                const peer = peers[c.to];
                if (peer.inbox.length > 0) peer.inbox.splice(c.pick % peer.inbox.length, 1);
                break;
              }
              case 'replay': {
                const peer = peers[c.to];
                const item = peer.delivered[c.pick % Math.max(peer.delivered.length, 1)];
                if (item === undefined) break;
                const before = snapshotStores(peer.stores);
                const chainKept = await hasChain(
                  peer.stores,
                  peers[otherOf(c.to)].party,
                  item.ratchetKey,
                );
                await assert.rejects(decrypt(c.to, item.message), (e: unknown) =>
                  chainKept ? ProtocolError.is(e, 'duplicate-message') : ProtocolError.is(e),
                );
                assert.equal(snapshotStores(peer.stores), before);
                break;
              }
              case 'restart':
                await restart(peers[c.who]);
                break;
              case 'reinit': {
                const from = peers[c.who];
                const to = peers[otherOf(c.who)];
                await processPreKeyBundle(
                  from.party.ctx,
                  from.stores,
                  to.party.address,
                  await to.party.bundle(),
                );
                break;
              }
            }
          }
          // Finally everything still in flight is delivered; then both sides can talk.
          for (const s of ['A', 'B'] as const) {
            for (const item of peers[s].inbox.splice(0)) {
              const chainKept = await hasChain(
                peers[s].stores,
                peers[otherOf(s)].party,
                item.ratchetKey,
              );
              const seen = peers[s].seenKeys.some((k) => bytesEqual(k, item.ratchetKey));
              try {
                assert.equal(fromUtf8(await decrypt(s, item.message)), item.text);
              } catch (error) {
                assert.ok(
                  ProtocolError.is(error, 'bad-mac') && seen && !chainKept,
                  `lost ${item.text}: ${String(error)}`,
                );
              }
            }
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});
