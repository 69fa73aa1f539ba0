/** The disk flags of `quintet server` reach the server limits. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import {
  addServerCommand,
  serverOptionsFromCli,
  type ServerCommandOptions,
} from '../../src/cli/server-command.js';

describe('disk flags', () => {
  it('parses queue bounds, send rates and the storage reserve into limits', async () => {
    const program = new Command().exitOverride();
    const command = addServerCommand(program);
    let parsed: ServerCommandOptions | undefined;
    command.action((options: ServerCommandOptions) => {
      parsed = options;
    });
    await program.parseAsync(
      [
        'server',
        '--max-queued-envelopes',
        '7',
        '--max-queued-bytes',
        '8000',
        '--send-rate-burst',
        '9',
        '--send-rate-per-second',
        '0.5',
        '--send-bytes-burst',
        '10000',
        '--send-bytes-per-second',
        '100',
        '--storage-reserve-bytes',
        '0',
      ],
      { from: 'user' },
    );
    assert.ok(parsed !== undefined);
    assert.deepEqual(serverOptionsFromCli(parsed).limits, {
      messageTtlMs: 30 * 24 * 60 * 60 * 1000,
      maxQueuedEnvelopes: 7,
      maxQueuedBytes: 8000,
      sendRateBurst: 9,
      sendRatePerSecond: 0.5,
      sendBytesBurst: 10000,
      sendBytesPerSecond: 100,
      storageReserveBytes: 0,
    });
  });
});
