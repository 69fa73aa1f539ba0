/**
 * A cluster behind nginx, in real Chromium: three `quintet server` nodes on
 * one PostgreSQL schema and a private NATS, and Debian's nginx in front of
 * them configured with the operations guide's example
 * (docs/nginx-cluster.conf, only its ports replaced). The browser companion
 * loads from nginx's origin, links over the proxied WebSocket to a primary
 * whose CLI approves through node1, receives a message bob sends through
 * node2, and its reply reaches bob reading through node3.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { ensureBuilt, ensureWebBuilt, messagesOf, runCli, tempDir } from '../e2e/harness.js';
import { Cluster, natsBinarySkip } from '../cluster/harness.js';
import { NginxProcess, nginxSkip } from '../cluster/nginx.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PIN = '2468';
const skip = (await serviceSkip('postgres')) ?? natsBinarySkip() ?? nginxSkip();

describe(
  'browser companion through nginx in front of a cluster',
  { skip, timeout: 300_000 },
  () => {
    const dir = tempDir('quintet-proxy-');
    let schema: TestSchema | undefined;
    let cluster: Cluster | undefined;
    let nginx: NginxProcess | undefined;
    let browser: Browser | undefined;

    before(async () => {
      ensureBuilt();
      ensureWebBuilt();
      schema = await createTestSchema('proxy');
      cluster = await Cluster.start({
        database: { url: schema.url, schema: schema.name },
        serverArgs: ['--web', join(ROOT, 'web', 'dist')],
      });
      nginx = await NginxProcess.start(cluster.nodes.map((n) => n.port));
      browser = await launchChromium();
    });

    after(async () => {
      await browser?.close();
      await nginx?.stop();
      await cluster?.close();
      await schema?.drop();
      dir.cleanup();
    });

    /** `quintet <args>` for profile `name` through node `nodeId`; fails the test on a non-zero exit. */
    async function cli(name: string, nodeId: string, ...args: string[]): Promise<string> {
      assert.ok(cluster, 'setup failed');
      const result = await runCli([
        ...args,
        '--profile',
        join(dir.path, name),
        '--server',
        cluster.node(nodeId).url,
      ]);
      assert.equal(result.code, 0, `quintet ${args.join(' ')} failed:\n${result.stderr}`);
      return result.stdout;
    }

    it('loads from nginx, links over the proxied socket, and chats across nodes', async () => {
      assert.ok(cluster && nginx && browser, 'setup failed');
      await cli('alice', 'node1', 'register', 'alice', '--pin', PIN);
      await cli('bob', 'node2', 'register', 'bob', '--pin', '1357');

      const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      const page = await context.newPage();
      const problems = watchProblems(page);
      const sockets: string[] = [];
      page.on('websocket', (socket) => sockets.push(socket.url()));
      await page.goto(nginx.url);
      await page.getByTestId('link-companion').click();
      await page.waitForFunction(
        () =>
          (document.querySelector<HTMLInputElement>('[data-testid="link-code"]')?.value.length ??
            0) > 0,
      );
      const code = await page.getByTestId('link-code').inputValue();
      // The page waits for approval on whichever node nginx picked; the primary approves through node1.
      const approved = await cli('alice', 'node1', 'devices', 'approve', code, '--pin', PIN);
      const deviceId = Number(/approved: device (\d+)/.exec(approved)?.[1]);
      assert.ok(deviceId >= 2, `unexpected approval output: ${approved}`);
      await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
      assert.equal(await page.getByTestId('self').textContent(), 'alice');
      const origin = new URL(nginx.url).host;
      assert.ok(sockets.length > 0, 'the page opened a WebSocket');
      for (const socket of sockets)
        assert.equal(new URL(socket).host, origin, `${socket} goes through nginx`);

      await cli('bob', 'node2', 'send', 'alice', 'hello alice, through node2');
      const row = page.getByTestId('chat').filter({ hasText: 'bob' });
      await row.getByTestId('unread').getByText('1').waitFor({ timeout: 30_000 });
      await row.click();
      await page.getByTestId('message').getByText('hello alice, through node2').waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'cluster-proxy-01-message.png') });

      await page.getByTestId('compose').fill('hello bob, from behind nginx');
      await page.getByTestId('send').click();
      await page.waitForFunction(
        () =>
          document.querySelector('.bubble.out [data-state]')?.getAttribute('data-state') === 'sent',
      );
      const bobGot = messagesOf(
        await runCli([
          'receive',
          '--json',
          '--profile',
          join(dir.path, 'bob'),
          '--server',
          cluster.node('node3').url,
        ]),
      );
      const reply = bobGot.find((m) => m['text'] === 'hello bob, from behind nginx');
      assert.ok(reply, `bob did not receive the reply: ${JSON.stringify(bobGot)}`);
      assert.equal(reply['fromDevice'], deviceId);
      assert.deepEqual(problems, [], nginx.errorLog());
      await context.close();
    });
  },
);
