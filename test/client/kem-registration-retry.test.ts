/**
 * A registration that failed after its keys were committed locally (the
 * name was taken) and is tried again in the same profile without KEM
 * prekeys (`postQuantum: false`, a new identity key): when the device
 * later runs post-quantum, its first top-up publishes a fresh last-resort
 * KEM prekey signed by the identity it registered with — not the failed
 * attempt's, which the server would refuse for good.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerAccount } from '../../src/client/core/account-setup.js';
import { ClientError } from '../../src/client/core/errors.js';
import { KEM_PRE_KEY_BATCH } from '../../src/client/core/kem-prekeys.js';
import { ServerApi } from '../../src/client/core/server-api.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import type { RunningServer } from '../../src/server/main.js';
import { ctx, deviceOn, registerDevice, testServer } from './helpers/clients.js';

describe('KEM prekeys after a failed registration (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('a retry without KEM prekeys, later run post-quantum, publishes keys its own identity signed', async () => {
    await registerDevice(server, 'rr-taken');
    const backend = new MemoryBackend();
    const store = createDeviceStore(backend);
    const register = async (account: string, postQuantum: boolean) => {
      const connection = await WsTransport.connect(server.url);
      try {
        return await registerAccount(ctx, store, new ServerApi(connection), {
          account,
          serverUrl: server.url,
          postQuantum,
        });
      } finally {
        await connection.close();
      }
    };
    await assert.rejects(register('rr-taken', true), (error: unknown) =>
      ClientError.isServer(error, 'account-taken'),
    );
    await register('rr-mine', false);
    const kem = server.store.kemPreKeys;
    assert.equal(await kem.getLastResortKemPreKey('rr-mine', 1), undefined);

    const device = await deviceOn(server, 'rr-mine', store, backend).online();
    const uploaded = await device.events.next(
      'pre-keys-uploaded',
      20_000,
      (e) => (e.kemCount ?? 0) > 0,
    );
    assert.equal(uploaded.kemCount, KEM_PRE_KEY_BATCH + 1);
    await device.client.idle();
    assert.equal(device.events.all('error').length, 0);
    assert.equal(await kem.countOneTimeKemPreKeys('rr-mine', 1), KEM_PRE_KEY_BATCH);
    assert.ok((await kem.getLastResortKemPreKey('rr-mine', 1)) !== undefined);
    await device.client.close();
  });
});
