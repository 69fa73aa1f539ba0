/**
 * The initiator-side downgrade guard: once a record holds a version-4
 * state (current or archived), a bundle without a KEM prekey builds no
 * version-3 session, through `processPreKeyBundle` or `SessionCipher`.
 * Each refusal is 'downgrade-refused' with every store byte-identical; a
 * peer that was never post-quantum still gets v3.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { processPreKeyBundle, type PreKeyBundle } from '../../../src/protocol/session-builder.js';
import { SessionCipher } from '../../../src/protocol/session-cipher.js';
import { kemBundle, makeParty, snapshotStores, utf8, type Party } from '../session-helpers.js';

/** The same bundle with the KEM prekey removed, as a stripping server hands it out. */
function stripped(bundle: PreKeyBundle): PreKeyBundle {
  const { kyberPreKeyId: _id, kyberPreKey: _key, kyberPreKeySignature: _sig, ...rest } = bundle;
  return rest;
}

async function versionOf(party: Party, peer: Party): Promise<number | undefined> {
  return (await party.stores.sessions.loadSession(peer.address))?.current?.sessionVersion;
}

async function refused(party: Party, attempt: () => Promise<unknown>): Promise<void> {
  const before = snapshotStores(party.stores);
  await assert.rejects(attempt(), (e: unknown) => ProtocolError.is(e, 'downgrade-refused'));
  assert.equal(snapshotStores(party.stores), before, 'stores unchanged');
}

describe('initiator-side downgrade guard', () => {
  it('a bundle without a KEM prekey does not replace a current v4 session', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const bundle = await kemBundle(bob, 7);
    await processPreKeyBundle(alice.ctx, alice.stores, bob.address, bundle);
    assert.equal(await versionOf(alice, bob), 4);
    await refused(alice, () =>
      processPreKeyBundle(alice.ctx, alice.stores, bob.address, stripped(bundle)),
    );
    assert.equal(await versionOf(alice, bob), 4);
    // A bundle that still carries one is taken: a new v4 session.
    await processPreKeyBundle(alice.ctx, alice.stores, bob.address, await kemBundle(bob, 8));
    assert.equal(await versionOf(alice, bob), 4);
  });

  it('an archived v4 state is enough: no v3 session through SessionCipher.encrypt', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    await processPreKeyBundle(alice.ctx, alice.stores, bob.address, await kemBundle(bob, 7));
    // The session is archived (a rebuild is due): no open session, so the
    // cipher would build one from the bundle it is given.
    const record = await alice.stores.sessions.loadSession(bob.address);
    assert.ok(record !== undefined);
    record.archiveCurrentState();
    await alice.stores.sessions.storeSession(bob.address, record);
    const cipher = new SessionCipher(alice.ctx, alice.stores, bob.address);
    const plain = await bob.bundle({ oneTime: true });
    await refused(alice, () => cipher.encrypt(utf8('hi'), plain));
    await refused(alice, () => processPreKeyBundle(alice.ctx, alice.stores, bob.address, plain));
    const message = await cipher.encrypt(utf8('hi'), await kemBundle(bob, 9));
    assert.equal(message.type, 'prekey');
    assert.equal(await versionOf(alice, bob), 4);
  });

  it('a peer that was never post-quantum still gets v3, and v3 sessions may be rebuilt', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    await processPreKeyBundle(
      alice.ctx,
      alice.stores,
      bob.address,
      await bob.bundle({ oneTime: true }),
    );
    assert.equal(await versionOf(alice, bob), 3);
    await processPreKeyBundle(
      alice.ctx,
      alice.stores,
      bob.address,
      await bob.bundle({ oneTime: true }),
    );
    assert.equal(await versionOf(alice, bob), 3);
    // Upgrading is always allowed.
    await processPreKeyBundle(alice.ctx, alice.stores, bob.address, await kemBundle(bob, 3));
    assert.equal(await versionOf(alice, bob), 4);
  });
});
