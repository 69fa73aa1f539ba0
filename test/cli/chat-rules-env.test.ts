/** chat-rules-env.ts: the chat windows and timer scale a CLI device takes from its environment. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatRulesFromEnv, parseWindow } from '../../src/cli/chat-rules-env.js';
import { CliError } from '../../src/cli/cli-error.js';
import { DEFAULT_CHAT_RULES } from '../../src/sdk/index.js';

describe('chat rules from the environment', () => {
  it('is undefined (the SDK defaults) when nothing is set', () => {
    assert.equal(chatRulesFromEnv({}), undefined);
  });

  it('reads seconds or a duration for each window, and the timer scale', () => {
    assert.equal(parseWindow('W', '90'), 90_000);
    assert.equal(parseWindow('W', '30s'), 30_000);
    assert.equal(parseWindow('W', '15m'), 900_000);
    assert.equal(parseWindow('W', '48h'), 172_800_000);
    assert.equal(parseWindow('W', '2d'), 172_800_000);
    assert.deepEqual(
      chatRulesFromEnv({
        QUINTET_EDIT_WINDOW: '5m',
        QUINTET_DELETE_WINDOW: '1h',
        QUINTET_CHAT_TIMER_SCALE: '1000',
      }),
      { ...DEFAULT_CHAT_RULES, editWindowMs: 300_000, deleteWindowMs: 3_600_000, timerSecondMs: 1 },
    );
    assert.deepEqual(chatRulesFromEnv({ QUINTET_DELETE_WINDOW: '10' }), {
      ...DEFAULT_CHAT_RULES,
      deleteWindowMs: 10_000,
    });
  });

  it('refuses malformed or out-of-bounds values with the variable named', () => {
    for (const bad of [
      '',
      'abc',
      '15 minutes',
      '-5',
      '0',
      '0s',
      '1.5m',
      '367d',
      '15w',
      '9999999999',
    ]) {
      assert.throws(
        () => chatRulesFromEnv({ QUINTET_EDIT_WINDOW: bad }),
        (error: unknown) => error instanceof CliError && /QUINTET_EDIT_WINDOW/.test(error.message),
        `edit window ${JSON.stringify(bad)}`,
      );
    }
    assert.throws(
      () => chatRulesFromEnv({ QUINTET_DELETE_WINDOW: 'soon' }),
      /QUINTET_DELETE_WINDOW/,
    );
    for (const bad of ['0', '-1', '1.5', 'fast', '864001']) {
      assert.throws(
        () => chatRulesFromEnv({ QUINTET_CHAT_TIMER_SCALE: bad }),
        /QUINTET_CHAT_TIMER_SCALE/,
        `scale ${JSON.stringify(bad)}`,
      );
    }
  });
});
