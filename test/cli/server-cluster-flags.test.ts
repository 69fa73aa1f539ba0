/** `quintet server` cluster flags and their environment variables. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Command } from 'commander';
import {
  addServerCommand,
  serverOptionsFromCli,
  type ServerCommandOptions,
} from '../../src/cli/server-command.js';
import type { StartServerOptions } from '../../src/server/main.js';

const ENV = [
  'QUINTET_DATABASE_URL',
  'QUINTET_DATABASE_SCHEMA',
  'QUINTET_BUS_URL',
  'QUINTET_NODE_ID',
] as const;

function optionsFrom(args: readonly string[]): StartServerOptions {
  const program = new Command();
  program.exitOverride();
  let parsed: ServerCommandOptions | undefined;
  addServerCommand(program).action((options: ServerCommandOptions) => {
    parsed = options;
  });
  program.parse(['server', ...args], { from: 'user' });
  assert.ok(parsed !== undefined);
  return serverOptionsFromCli(parsed);
}

describe('quintet server cluster flags', () => {
  const saved = new Map(ENV.map((name) => [name, process.env[name]]));
  afterEach(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('run a single node when none is given', () => {
    for (const name of ENV) delete process.env[name];
    const options = optionsFrom([]);
    assert.equal(options.database, undefined);
    assert.equal(options.bus, undefined);
    assert.equal(options.nodeId, undefined);
  });

  it('take the database, bus and node id from flags', () => {
    const options = optionsFrom([
      '--database',
      'postgres://db/q',
      '--bus',
      'nats://bus:4222',
      '--node-id',
      'q1',
      '--database-schema',
      'chat',
    ]);
    assert.equal(options.database, 'postgres://db/q');
    assert.equal(options.databaseSchema, 'chat');
    assert.equal(options.bus, 'nats://bus:4222');
    assert.equal(options.nodeId, 'q1');
  });

  it('fall back to the environment, and flags win over it', () => {
    process.env.QUINTET_DATABASE_URL = 'postgres://env/q';
    process.env.QUINTET_BUS_URL = 'nats://env:4222';
    process.env.QUINTET_NODE_ID = 'env-node';
    process.env.QUINTET_DATABASE_SCHEMA = 'env_schema';
    const fromEnv = optionsFrom([]);
    assert.equal(fromEnv.databaseSchema, 'env_schema');
    assert.equal(fromEnv.database, 'postgres://env/q');
    assert.equal(fromEnv.bus, 'nats://env:4222');
    assert.equal(fromEnv.nodeId, 'env-node');
    assert.equal(optionsFrom(['--node-id', 'flag-node']).nodeId, 'flag-node');
  });
});
