/**
 * `--server a,b,c` on the command line: every command that takes `--server`
 * checks the list when parsing; `register` stores the whole list in the
 * profile, later commands use it (here the first URL is unreachable, so
 * they must go on to the next); a bad URL is refused naming it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { addDevicesCommand } from '../../src/cli/commands/devices.js';
import { addGroupCommands } from '../../src/cli/commands/group.js';
import { addLinkCommand } from '../../src/cli/commands/link.js';
import { addLogoutCommand } from '../../src/cli/commands/logout.js';
import { addReceiveCommand } from '../../src/cli/commands/receive.js';
import { addRegisterCommand } from '../../src/cli/commands/register.js';
import { addSafetyNumberCommand } from '../../src/cli/commands/safety-number.js';
import { addSendCommand } from '../../src/cli/commands/send.js';
import { addTrustCommand } from '../../src/cli/commands/trust.js';
import { openProfileStore } from '../../src/cli/profile.js';
import { serverOption } from '../../src/cli/server-option.js';
import type { RunningServer } from '../../src/server/main.js';
import { registerDevice, testServer } from '../client/helpers/clients.js';
import { ensureBuilt, runCli, tempDir } from '../e2e/harness.js';

const PIN = '2468';
/** Nothing listens on loopback port 1: a connect there is refused at once. */
const DEAD = 'http://127.0.0.1:1';

/** Every command and subcommand of the client program. */
function clientCommands(): Command[] {
  const program = new Command();
  for (const add of [
    addRegisterCommand,
    addSendCommand,
    addGroupCommands,
    addReceiveCommand,
    addSafetyNumberCommand,
    addTrustCommand,
    addLinkCommand,
    addDevicesCommand,
    addLogoutCommand,
  ]) {
    add(program);
  }
  const all: Command[] = [];
  const walk = (command: Command): void => {
    all.push(command);
    command.commands.forEach(walk);
  };
  walk(program);
  return all;
}

describe('--server with a list', { timeout: 120_000 }, () => {
  const dir = tempDir('quintet-server-list-');
  let server: RunningServer;

  before(async () => {
    ensureBuilt();
    server = await testServer();
    await registerDevice(server, 'bob');
  });
  after(async () => {
    await server.close();
    dir.cleanup();
  });

  it('is parsed by the same checked option on every command that takes it', () => {
    const withServer = clientCommands().filter((command) =>
      command.options.some((option) => option.long === '--server'),
    );
    assert.ok(withServer.length >= 10, `only ${withServer.length} commands take --server`);
    for (const command of withServer) {
      const option = command.options.find((o) => o.long === '--server');
      assert.equal(option?.parseArg, serverOption, `${command.name()} --server is not checked`);
    }
  });

  it('is stored by register and used by later commands, skipping an unreachable server', async () => {
    const profile = join(dir.path, 'alice');
    const list = `${DEAD}, ${server.url}`;
    const registered = await runCli([
      'register',
      'alice',
      '--server',
      list,
      '--profile',
      profile,
      '--pin',
      PIN,
    ]);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stdout, new RegExp(`on ${server.url};`));

    const store = openProfileStore(profile);
    try {
      const account = await store.account.getRequired();
      assert.equal(account.serverUrl, `${DEAD},${server.url}`);
    } finally {
      await store.close();
    }

    // No --server: the profile's list, whose first server is down.
    const sent = await runCli(['send', 'bob', 'over the list', '--profile', profile]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^sent [0-9a-f]+ to bob/);
  });

  it('refuses a bad URL in the list, naming it, before connecting anywhere', async () => {
    const profile = join(dir.path, 'carol');
    const result = await runCli([
      'register',
      'carol',
      '--server',
      `${server.url},ftp://files.example,${DEAD}`,
      '--profile',
      profile,
      '--pin',
      PIN,
    ]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /invalid server URL "ftp:\/\/files\.example"/);
    assert.equal(result.stdout, '');
  });
});
