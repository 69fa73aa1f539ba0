import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CHALLENGE_TTL_MS } from '../../src/wire/auth.js';
import type { RequestBody } from '../../src/wire/frame.js';
import {
  authenticateOver,
  challenge,
  newIdentity,
  registerOver,
  registeredDevice,
  signAuth,
  signedPreKey,
} from './helpers/device.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('registration', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('creates the account with the registering device as primary (device 1)', async () => {
    const device = await registeredDevice(t.wsUrl, 'alice');
    const stored = await t.store.accounts.listDevices('alice');
    assert.equal(stored?.length, 1);
    assert.equal(stored?.[0]?.deviceId, 1);
    assert.deepEqual(stored?.[0]?.identityKey, device.identity.identity.publicKey.serialize());
    assert.equal(stored?.[0]?.registrationId, device.identity.registrationId);
    // The connection is authenticated now.
    const response = await device.client.request({
      case: 'getDevices',
      value: { account: 'alice' },
    });
    assert.equal(response.error, undefined);
    assert.ok(response.body.case === 'getDevices');
    assert.equal(response.body.value.devices[0]?.name, 'test');
    device.client.close();
  });

  it('refuses a taken name without touching the existing account', async () => {
    const first = await registeredDevice(t.wsUrl, 'bob');
    const client = await RawClient.connect(t.wsUrl);
    const response = await registerOver(client, 'bob', await newIdentity());
    assert.equal(response.error?.code, 'account-taken');
    const stored = await t.store.accounts.getDevice('bob', 1);
    assert.deepEqual(stored?.identityKey, first.identity.identity.publicKey.serialize());
    client.close();
    first.client.close();
  });

  it('refuses invalid names', async () => {
    const client = await RawClient.connect(t.wsUrl);
    for (const name of ['Bob', 'ab', '9lives', 'x'.repeat(40), 'a b c']) {
      const response = await registerOver(client, name, await newIdentity()).catch(() => undefined);
      // A name the helper cannot even sign still gets a response; check the code.
      assert.equal(response?.error?.code, 'invalid-account-name', name);
    }
    assert.equal(await t.store.accounts.listDevices('Bob'), undefined);
    client.close();
  });

  it('refuses a registration signed for another name or with a forged signature', async () => {
    const client = await RawClient.connect(t.wsUrl);
    const identity = await newIdentity();
    const nonce = await challenge(client);
    const response = await client.request({
      case: 'register',
      value: {
        account: 'mallory',
        identityKey: identity.identity.publicKey.serialize(),
        registrationId: 5,
        nonce,
        signature: await signAuth(identity, nonce, 'someone', 1),
        signedPreKey: await signedPreKey(identity),
      },
    });
    assert.equal(response.error?.code, 'invalid-signature');
    assert.equal(await t.store.accounts.listDevices('mallory'), undefined);
    client.close();
  });

  it('refuses a signed prekey not signed by the identity key', async () => {
    const client = await RawClient.connect(t.wsUrl);
    const identity = await newIdentity();
    const other = await newIdentity();
    const nonce = await challenge(client);
    const response = await client.request({
      case: 'register',
      value: {
        account: 'spkbad',
        identityKey: identity.identity.publicKey.serialize(),
        registrationId: 5,
        nonce,
        signature: await signAuth(identity, nonce, 'spkbad', 1),
        signedPreKey: await signedPreKey(other),
      },
    });
    assert.equal(response.error?.code, 'invalid-signature');
    assert.equal(await t.store.accounts.listDevices('spkbad'), undefined);
    client.close();
  });

  it('refuses a malformed identity key', async () => {
    const client = await RawClient.connect(t.wsUrl);
    const nonce = await challenge(client);
    const response = await client.request({
      case: 'register',
      value: {
        account: 'badkey',
        identityKey: new Uint8Array(33),
        registrationId: 5,
        nonce,
        signature: new Uint8Array(64),
      },
    });
    assert.equal(response.error?.code, 'malformed-request');
    client.close();
  });
});

describe('registration token', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ registrationToken: 'sesame' });
  });
  after(() => t.close());

  it('is required, must match, and then works', async () => {
    const client = await RawClient.connect(t.wsUrl);
    const missing = await registerOver(client, 'carol', await newIdentity());
    assert.equal(missing.error?.code, 'registration-token-required');
    const wrong = await registerOver(client, 'carol', await newIdentity(), { token: 'sesamf' });
    assert.equal(wrong.error?.code, 'invalid-registration-token');
    assert.equal(await t.store.accounts.listDevices('carol'), undefined);
    const ok = await registerOver(client, 'carol', await newIdentity(), { token: 'sesame' });
    assert.equal(ok.error, undefined);
    client.close();
  });
});

describe('authentication', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('authenticates an existing device with a fresh signature', async () => {
    const device = await registeredDevice(t.wsUrl, 'dave', { preKeys: 0 });
    device.client.close();
    const client = await RawClient.connect(t.wsUrl);
    const response = await authenticateOver(client, 'dave', 1, device.identity);
    assert.equal(response.error, undefined);
    assert.ok(response.body.case === 'authenticate');
    assert.equal(response.body.value.preKeyThreshold, 10);
    // Registered without one-time prekeys: told so at login, before the backlog.
    const low = await client.nextPush();
    assert.ok(low.kind.case === 'preKeysLow', `got ${low.kind.case}`);
    assert.equal(low.kind.value.preKeysRemaining, 0);
    assert.equal((await client.nextPush()).kind.case, 'queueDrained');
    client.close();
  });

  it('sends no PreKeysLow at login while the device has enough one-time prekeys', async () => {
    const device = await registeredDevice(t.wsUrl, 'dave2', { preKeys: 10 });
    device.client.close();
    const client = await RawClient.connect(t.wsUrl);
    const response = await authenticateOver(client, 'dave2', 1, device.identity);
    assert.ok(response.body.case === 'authenticate', response.error?.message);
    assert.equal(response.body.value.preKeysRemaining, 10);
    assert.equal((await client.nextPush()).kind.case, 'queueDrained');
    client.close();
  });

  it('refuses a forged signature and burns the nonce', async () => {
    await registeredDevice(t.wsUrl, 'erin').then((d) => d.client.close());
    const client = await RawClient.connect(t.wsUrl);
    const attacker = await newIdentity();
    const nonce = await challenge(client);
    const forged = await client.request({
      case: 'authenticate',
      value: {
        account: 'erin',
        deviceId: 1,
        nonce,
        signature: await signAuth(attacker, nonce, 'erin', 1),
      },
    });
    assert.equal(forged.error?.code, 'invalid-signature');
    // The same nonce cannot be tried again, not even with a correct signature.
    const again = await client.request({
      case: 'authenticate',
      value: { account: 'erin', deviceId: 1, nonce, signature: new Uint8Array(64) },
    });
    assert.equal(again.error?.code, 'challenge-expired');
    // Still unauthenticated.
    const denied = await client.request({ case: 'preKeyStatus', value: {} });
    assert.equal(denied.error?.code, 'unauthenticated');
    client.close();
  });

  it('refuses a reused nonce even after a successful login', async () => {
    const device = await registeredDevice(t.wsUrl, 'frank');
    device.client.close();
    const client = await RawClient.connect(t.wsUrl);
    const nonce = await challenge(client);
    const signature = await signAuth(device.identity, nonce, 'frank', 1);
    const first = await client.request({
      case: 'authenticate',
      value: { account: 'frank', deviceId: 1, nonce, signature },
    });
    assert.equal(first.error, undefined);
    const replayClient = await RawClient.connect(t.wsUrl);
    const replay = await replayClient.request({
      case: 'authenticate',
      value: { account: 'frank', deviceId: 1, nonce, signature },
    });
    assert.equal(replay.error?.code, 'challenge-expired');
    client.close();
    replayClient.close();
  });

  it('refuses a nonce issued to another connection, and an expired one', async () => {
    const device = await registeredDevice(t.wsUrl, 'grace');
    device.client.close();
    const issuer = await RawClient.connect(t.wsUrl);
    const user = await RawClient.connect(t.wsUrl);
    const nonce = await challenge(issuer);
    const stolen = await user.request({
      case: 'authenticate',
      value: {
        account: 'grace',
        deviceId: 1,
        nonce,
        signature: await signAuth(device.identity, nonce, 'grace', 1),
      },
    });
    assert.equal(stolen.error?.code, 'challenge-expired');
    const late = await challenge(user);
    t.clock.advance(CHALLENGE_TTL_MS + 1);
    const expired = await user.request({
      case: 'authenticate',
      value: {
        account: 'grace',
        deviceId: 1,
        nonce: late,
        signature: await signAuth(device.identity, late, 'grace', 1),
      },
    });
    assert.equal(expired.error?.code, 'challenge-expired');
    issuer.close();
    user.close();
  });

  it('tells unknown accounts and devices apart', async () => {
    const device = await registeredDevice(t.wsUrl, 'heidi');
    const client = await RawClient.connect(t.wsUrl);
    const unknownAccount = await authenticateOver(client, 'nobody', 1, device.identity);
    assert.equal(unknownAccount.error?.code, 'unknown-account');
    const unknownDevice = await authenticateOver(client, 'heidi', 2, device.identity);
    assert.equal(unknownDevice.error?.code, 'unknown-device');
    client.close();
    device.client.close();
  });

  it('lets the newest connection of a device win', async () => {
    const device = await registeredDevice(t.wsUrl, 'ivan');
    const second = await RawClient.connect(t.wsUrl);
    const response = await authenticateOver(second, 'ivan', 1, device.identity);
    assert.equal(response.error, undefined);
    const closed = await device.client.closed;
    assert.equal(closed.code, 4001);
    assert.match(closed.reason, /newer connection/);
    const status = await second.request({ case: 'preKeyStatus', value: {} });
    assert.equal(status.error, undefined);
    second.close();
  });

  it('refuses a second authentication on one connection', async () => {
    const device = await registeredDevice(t.wsUrl, 'judy');
    const response = await authenticateOver(device.client, 'judy', 1, device.identity);
    assert.equal(response.error?.code, 'forbidden');
    device.client.close();
  });

  it('answers every authenticated-only request with unauthenticated before login', async () => {
    const client = await RawClient.connect(t.wsUrl);
    const bodies: RequestBody[] = [
      { case: 'preKeyStatus', value: {} },
      { case: 'getDevices', value: { account: 'alice' } },
      { case: 'getPreKeyBundles', value: { account: 'alice', deviceId: 0 } },
      { case: 'uploadPreKeys', value: {} },
      { case: 'ack', value: { serverGuids: [new Uint8Array(16)] } },
      {
        case: 'sendMessage',
        value: {
          destination: 'alice',
          envelopes: [{ deviceId: 1, registrationId: 1, type: 1, content: new Uint8Array(1) }],
        },
      },
    ];
    for (const body of bodies) {
      const response = await client.request(body);
      assert.equal(response.error?.code, 'unauthenticated', body?.case);
    }
    client.close();
  });

  it('limits unused challenges per connection', async () => {
    const client = await RawClient.connect(t.wsUrl);
    for (let i = 0; i < 4; i++) await challenge(client);
    const fifth = await client.request({ case: 'challenge', value: {} });
    assert.equal(fifth.error?.code, 'rate-limited');
    client.close();
  });
});
