/** The prekey-bundle limits reach the server through `quintet server` flags. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { addServerCommand, serverOptionsFromCli } from '../../src/cli/server-command.js';
import type { ServerCommandOptions } from '../../src/cli/server-command.js';

describe('quintet server: prekey-bundle flags', () => {
  it('maps the four flags onto the limits, and leaves the defaults alone without them', () => {
    const program = new Command();
    let parsed: ServerCommandOptions | undefined;
    addServerCommand(program).action((options: ServerCommandOptions) => {
      parsed = options;
    });
    program.parse(
      [
        'server',
        '--bundle-rate-burst',
        '300',
        '--bundle-rate-per-second',
        '5',
        '--bundle-target-burst',
        '20',
        '--bundle-target-per-second',
        '0.5',
      ],
      { from: 'user' },
    );
    assert.ok(parsed !== undefined);
    const limits = serverOptionsFromCli(parsed).limits ?? {};
    assert.equal(limits.bundleRateBurst, 300);
    assert.equal(limits.bundleRatePerSecond, 5);
    assert.equal(limits.bundleTargetBurst, 20);
    assert.equal(limits.bundleTargetPerSecond, 0.5);

    const bare = new Command();
    let plain: ServerCommandOptions | undefined;
    addServerCommand(bare).action((options: ServerCommandOptions) => {
      plain = options;
    });
    bare.parse(['server'], { from: 'user' });
    assert.ok(plain !== undefined);
    const none = serverOptionsFromCli(plain).limits ?? {};
    assert.equal(none.bundleRateBurst, undefined);
    assert.equal(none.bundleTargetBurst, undefined);
  });
});
