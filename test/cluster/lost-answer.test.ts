/**
 * The one case where a failover could show a message twice, made to happen
 * on purpose: the sender's node commits a send, and is killed (`kill -9`)
 * before its answer reaches the sender. The client core cannot know whether
 * the send landed, sends it again through the surviving node under the same
 * message id, and the recipient shows it once. (The load test's kill hits
 * this window only by chance.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClientError } from '../../src/client/core/errors.js';
import type { Transport } from '../../src/client/core/transport.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { ensureBuilt } from '../e2e/harness.js';
import { Cluster, natsBinarySkip } from './harness.js';
import { FailoverDevice, registerSdkDevice } from './sdk-devices.js';

const skip = (await serviceSkip('postgres')) ?? natsBinarySkip();

describe('cluster: a node killed between commit and answer', { skip, timeout: 120_000 }, () => {
  let schema: TestSchema | undefined;
  let cluster: Cluster | undefined;
  const devices: FailoverDevice[] = [];

  before(async () => {
    ensureBuilt();
    schema = await createTestSchema('lost');
    cluster = await Cluster.start({
      database: { url: schema.url, schema: schema.name },
      nodes: 2,
    });
  });

  after(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await cluster?.close();
    await schema?.drop();
  });

  it('re-sends under the same id through the other node; the recipient shows it once', async () => {
    assert.ok(cluster, 'setup failed');
    const nodes = cluster;
    const url1 = nodes.node('node1').url;
    const url2 = nodes.node('node2').url;
    const sender = await registerSdkDevice(url1, 'lost-sender');
    const recipient = await registerSdkDevice(url1, 'lost-recipient');

    /** When set, the next committed send's answer is dropped and node2 killed. */
    let armed = false;
    let sends = 0;
    const cutAfterCommit = (transport: Transport): Transport => ({
      request: async (body) => {
        if (body?.case === 'sendMessage') sends += 1;
        const response = await transport.request(body);
        if (body?.case === 'sendMessage' && armed && response.error === undefined) {
          armed = false;
          // The server committed and answered; the answer dies with the node.
          await nodes.kill('node2');
          throw new ClientError('transport-closed', 'the answer was lost with the node (test)');
        }
        return response;
      },
      get pushes() {
        return transport.pushes;
      },
      close: () => transport.close(),
      get closeCode() {
        return transport.closeCode;
      },
    });
    const from = new FailoverDevice('sender@node2', sender, [url2, url1], cutAfterCommit);
    const to = new FailoverDevice('recipient@node1', recipient, [url1]);
    devices.push(from, to);
    from.start();
    to.start();
    await Promise.all([from.client(), to.client()]);

    await from.sendText('lost-recipient', 'before the kill');
    await to.until('the first message', () => to.shown.some((m) => m.text === 'before the kill'));
    armed = true;
    const sendsBefore = sends;
    await from.sendText('lost-recipient', 'answer lost');
    assert.equal(armed, false, 'the answer was cut off');
    assert.ok(
      sends - sendsBefore >= 2,
      `the send went out again (${sends - sendsBefore} requests)`,
    );
    assert.equal(from.url, url1, 'the sender moved to node1');
    await from.sendText('lost-recipient', 'after the kill');
    await to.until('the last message', () => to.shown.some((m) => m.text === 'after the kill'));
    assert.deepEqual(
      to.shown.map((m) => m.text),
      ['before the kill', 'answer lost', 'after the kill'],
    );
  });
});
