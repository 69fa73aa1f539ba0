/**
 * Linking companions against the REAL server (in-process, memory store,
 * manual clock): the full link, local authentication (wrong PIN, lockout),
 * a tampered HMAC, expired and reused references, the companion cap,
 * remote logout and self logout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AdvError,
  decodeLinkCode,
  PRIMARY_DEVICE_ID,
  verifyDeviceIdentity,
  verifySignedKeyIndexList,
} from '../../src/protocol/adv/index.js';
import type { PublicKey } from '../../src/protocol/curve.js';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import { ClientError } from '../../src/client/core/errors.js';
import { approveCompanion } from '../../src/client/core/linking/approve.js';
import { LinkingError } from '../../src/client/core/linking/errors.js';
import {
  LINK_COMPLETION_GRACE_MS,
  listOwnDevices,
  logoutCompanion,
  pruneOwnDeviceList,
  removeCompanion,
} from '../../src/client/core/device-admin.js';
import { loadPrimary, saveLinkState } from '../../src/client/core/linking/approve.js';
import { hashPin, verifyPin } from '../../src/cli/pin.js';
import { removalReason } from '../../src/cli/commands/logged-out.js';
import { LocalAuthGate, PIN_LOCK_MS } from '../../src/client/core/linking/local-auth.js';
import { authenticateDevice } from '../../src/client/core/account-setup.js';
import { ServerApi } from '../../src/client/core/server-api.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import {
  contextFor,
  linkOne,
  registerPrimary,
  startCompanion,
  startTestServer,
  withDevice,
  type TestServer,
} from './linking-helpers.js';

const PIN = '2468';

async function accountKeyOf(store: DeviceStore): Promise<PublicKey> {
  return (await store.protocol.identity.getIdentityKeyPair()).publicKey;
}

describe('linking a companion (real server)', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it('registration publishes the first signed list (primary only)', async () => {
    const primary = await registerPrimary(server, 'reg');
    const account = await primary.store.account.getRequired();
    assert.ok(account.link !== undefined);
    assert.equal(account.link.nextKeyIndex, 1);
    const served = await withDevice(server, primary.store, (api) => api.getDeviceList('reg'));
    const list = await verifySignedKeyIndexList(
      contextFor(server),
      served.signedKeyIndexList,
      await accountKeyOf(primary.store),
    );
    assert.equal(list.currentIndex, 0);
    assert.deepEqual(list.validIndexes, []);
    assert.equal(list.rawId, account.link.rawId);
  });

  it('links a companion: signed identity, signed list, authenticated device', async () => {
    const primary = await registerPrimary(server, 'alice');
    const { store, linked } = await linkOne(server, primary, 'laptop');
    assert.equal(linked.account.account, 'alice');
    assert.equal(linked.account.deviceId, 2);
    assert.equal(linked.account.keyIndex, 1);
    const accountKey = await accountKeyOf(primary.store);
    const companionKey = (await store.protocol.identity.getIdentityKeyPair()).publicKey;
    // Both signatures verify for a contact who trusts only the account key.
    const signed = linked.account.signedDeviceIdentity;
    assert.ok(signed !== undefined);
    const verified = await verifyDeviceIdentity(contextFor(server), signed, {
      accountKey,
      deviceIdentityKey: companionKey,
    });
    assert.equal(verified.keyIndex, 1);
    // The companion can now authenticate as alice.2 and sees both devices.
    const devices = await withDevice(server, store, (api) => listOwnDevices(store, api));
    assert.deepEqual(
      devices.map((d) => [d.deviceId, d.primary, d.current, d.name]),
      [
        [1, true, false, 'primary'],
        [2, false, true, 'laptop'],
      ],
    );
    // The primary's new list vouches for index 1 and is newer than the first.
    const served = await withDevice(server, primary.store, (api) => api.getDeviceList('alice'));
    const list = await verifySignedKeyIndexList(
      contextFor(server),
      served.signedKeyIndexList,
      accountKey,
    );
    assert.deepEqual(list.validIndexes, [1]);
    assert.equal(list.currentIndex, 1);
    const state = (await primary.store.account.getRequired()).link;
    assert.deepEqual(state?.companions, { 2: 1 });
    assert.equal(state?.nextKeyIndex, 2);
  });

  it('a wrong PIN links nothing; 5 wrong PINs lock approvals until the lock passes', async () => {
    const primary = await registerPrimary(server, 'pinny');
    const hash = await hashPin(PIN);
    const gateFor = (): LocalAuthGate =>
      new LocalAuthGate({
        settings: primary.store.settings,
        clock: server.clock,
        verify: (pin) => verifyPin(pin, hash),
      });
    const companion = await startCompanion(server, { timeoutMs: 30_000 });
    const code = await companion.code;
    const approveWith = async (pin: string): Promise<void> => {
      await gateFor().authorize(pin);
      await withDevice(server, primary.store, (api) =>
        approveCompanion(contextFor(server), primary.store, api, code),
      );
    };
    for (let attempt = 1; attempt <= 4; attempt++) {
      await assert.rejects(
        approveWith('0000'),
        (e) => LinkingError.is(e, 'wrong-pin') && e.attemptsLeft === 5 - attempt,
      );
    }
    await assert.rejects(approveWith('1111'), (e) => LinkingError.is(e, 'pin-locked'));
    // Locked: even the right PIN is refused, by a fresh gate (the state persists).
    await assert.rejects(approveWith(PIN), (e) => {
      assert.ok(LinkingError.is(e, 'pin-locked'));
      assert.equal(e.lockedUntil, server.clock.now() + PIN_LOCK_MS);
      return true;
    });
    // Nothing was signed or linked.
    const account = await primary.store.account.getRequired();
    assert.equal(account.link?.nextKeyIndex, 1);
    const before = await withDevice(server, primary.store, (api) => api.getDevices('pinny'));
    assert.deepEqual(
      before.map((d) => d.deviceId),
      [PRIMARY_DEVICE_ID],
    );
    // The companion gives up at its deadline, unlinked.
    server.clock.advance(31_000);
    await assert.rejects(companion.result, (e) => LinkingError.is(e, 'link-timeout'));
    await companion.close();
    // After the lock passes the right PIN works again and clears the count.
    server.clock.advance(PIN_LOCK_MS);
    await gateFor().authorize(PIN);
    assert.deepEqual(await gateFor().state(), { failures: 0, lockedUntil: 0 });
  });

  it('a tampered linking secret → the companion reports hmac-mismatch and is not linked', async () => {
    const primary = await registerPrimary(server, 'tamper');
    const companion = await startCompanion(server);
    const code = await companion.code;
    const secret = code.linkingSecret.slice();
    secret[0] = (secret[0] ?? 0) ^ 1;
    await withDevice(server, primary.store, (api) =>
      approveCompanion(contextFor(server), primary.store, api, { ...code, linkingSecret: secret }),
    );
    await assert.rejects(companion.result, (e) => AdvError.is(e, 'hmac-mismatch'));
    await companion.close();
    const devices = await withDevice(server, primary.store, (api) => api.getDevices('tamper'));
    assert.deepEqual(
      devices.map((d) => d.deviceId),
      [PRIMARY_DEVICE_ID],
    );
  });

  it('refuses an expired reference', async () => {
    const primary = await registerPrimary(server, 'expiry');
    const companion = await startCompanion(server, { timeoutMs: 600_000 });
    const code = await companion.code;
    server.clock.advance(61_000);
    await assert.rejects(
      withDevice(server, primary.store, (api) =>
        approveCompanion(contextFor(server), primary.store, api, code),
      ),
      (e) => ClientError.isServer(e, 'link-expired') || ClientError.isServer(e, 'unknown-link'),
    );
    await companion.close();
  });

  it('shows a fresh link code when the reference expires; only the newest one links', async () => {
    const primary = await registerPrimary(server, 'refresh');
    const companion = await startCompanion(server, { timeoutMs: 600_000 });
    const first = await companion.code;
    server.clock.advance(60_000);
    const deadline = Date.now() + 5_000;
    while (companion.shown.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(companion.shown.length, 2);
    const fresh = decodeLinkCode(companion.shown[1] ?? '');
    assert.notEqual(fresh.ref, first.ref);
    // Same identity and secret: only the server reference changes.
    assert.deepEqual(fresh.linkingSecret, first.linkingSecret);
    await assert.rejects(
      withDevice(server, primary.store, (api) =>
        approveCompanion(contextFor(server), primary.store, api, first),
      ),
      (e) => ClientError.isServer(e, 'unknown-link') || ClientError.isServer(e, 'link-expired'),
    );
    await withDevice(server, primary.store, (api) =>
      approveCompanion(contextFor(server), primary.store, api, fresh),
    );
    assert.equal((await companion.result).account.deviceId, 2);
    await companion.close();
  });

  it('refuses a reused reference', async () => {
    const primary = await registerPrimary(server, 'reuse');
    const companion = await startCompanion(server);
    const code = await companion.code;
    await withDevice(server, primary.store, (api) =>
      approveCompanion(contextFor(server), primary.store, api, code),
    );
    await companion.result;
    await assert.rejects(
      withDevice(server, primary.store, (api) =>
        approveCompanion(contextFor(server), primary.store, api, code),
      ),
      (e) => ClientError.isServer(e, 'unknown-link'),
    );
    await companion.close();
  });

  it('refuses a 5th companion', async () => {
    const primary = await registerPrimary(server, 'many');
    for (let i = 0; i < 4; i++) await linkOne(server, primary, `c${i}`);
    const companion = await startCompanion(server);
    const code = await companion.code;
    await assert.rejects(
      withDevice(server, primary.store, (api) =>
        approveCompanion(contextFor(server), primary.store, api, code),
      ),
      (e) => ClientError.isServer(e, 'too-many-devices'),
    );
    await companion.close();
    const devices = await withDevice(server, primary.store, (api) => api.getDevices('many'));
    assert.equal(devices.length, 5);
  });

  it('pruning keeps a companion that is still completing its link, then drops it', async () => {
    const primary = await registerPrimary(server, 'pruner');
    const ctx = contextFor(server);
    // As right after an approval: the list vouches for device 9 (index 1),
    // which the server does not serve until the companion completes.
    const { link } = await loadPrimary(ctx, primary.store);
    await saveLinkState(primary.store, {
      ...link,
      nextKeyIndex: 2,
      companions: { 9: 1 },
      approvedAt: { 9: server.clock.now() },
    });
    const early = await withDevice(server, primary.store, (api) =>
      pruneOwnDeviceList(ctx, primary.store, api),
    );
    assert.equal(early, false);
    assert.deepEqual((await loadPrimary(ctx, primary.store)).link.companions, { 9: 1 });

    server.clock.advance(LINK_COMPLETION_GRACE_MS + 1);
    const late = await withDevice(server, primary.store, (api) =>
      pruneOwnDeviceList(ctx, primary.store, api),
    );
    assert.equal(late, true);
    assert.deepEqual((await loadPrimary(ctx, primary.store)).link.companions, {});
  });

  it('a companion cannot approve, remove or re-sign', async () => {
    const primary = await registerPrimary(server, 'roles');
    const { store } = await linkOne(server, primary);
    const other = await startCompanion(server);
    const code = await other.code;
    await assert.rejects(
      withDevice(server, store, (api) => approveCompanion(contextFor(server), store, api, code)),
      (e) => LinkingError.is(e, 'not-primary'),
    );
    await assert.rejects(
      withDevice(server, store, (api) => removeCompanion(contextFor(server), store, api, 2)),
      (e) => LinkingError.is(e, 'not-primary'),
    );
    await assert.rejects(
      withDevice(server, primary.store, (api) => logoutCompanion(primary.store, api)),
      (e) => LinkingError.is(e, 'primary-cannot-logout'),
    );
    await other.close();
  });

  it('remote logout: a new list without the device, and it can no longer authenticate', async () => {
    const primary = await registerPrimary(server, 'remote');
    const first = await linkOne(server, primary, 'one');
    const second = await linkOne(server, primary, 'two');
    await withDevice(server, primary.store, (api) =>
      removeCompanion(contextFor(server), primary.store, api, first.linked.account.deviceId),
    );
    const accountKey = await accountKeyOf(primary.store);
    const served = await withDevice(server, primary.store, (api) => api.getDeviceList('remote'));
    const list = await verifySignedKeyIndexList(
      contextFor(server),
      served.signedKeyIndexList,
      accountKey,
    );
    assert.deepEqual(list.validIndexes, [second.linked.account.keyIndex]);
    assert.equal(list.currentIndex, 2);
    assert.deepEqual(
      served.devices.map((d) => d.deviceId),
      [1, second.linked.account.deviceId],
    );
    await assert.rejects(
      withDevice(server, first.store, async () => undefined),
      (e) => ClientError.isServer(e, 'device-removed') && /removed/.test(e.serverMessage ?? ''),
    );
    await assert.rejects(
      withDevice(server, primary.store, (api) =>
        removeCompanion(contextFor(server), primary.store, api, 1),
      ),
      (e) => LinkingError.is(e, 'unknown-device'),
    );
  });

  it('self logout removes the companion from the server', async () => {
    const primary = await registerPrimary(server, 'selfout');
    const { store } = await linkOne(server, primary);
    await withDevice(server, store, (api) => logoutCompanion(store, api));
    const transport = await WsTransport.connect(server.server.url);
    try {
      await assert.rejects(
        authenticateDevice(contextFor(server), store, new ServerApi(transport)),
        (e) => {
          assert.ok(ClientError.isServer(e, 'device-removed'));
          assert.equal(removalReason(e), 'logout');
          return true;
        },
      );
    } finally {
      await transport.close();
    }
  });
});
