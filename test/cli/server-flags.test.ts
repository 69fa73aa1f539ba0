/**
 * Every server limit is an operator's decision: each `ServerLimits` field
 * is reachable from a `quintet server` flag, and every flag of the command
 * has a row in docs/operations.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Command, type Option } from 'commander';
import { addServerCommand, serverOptionsFromCli } from '../../src/cli/server-command.js';
import type { ServerCommandOptions } from '../../src/cli/server-command.js';
import { DEFAULT_LIMITS } from '../../src/server/config.js';

function serverOptions(): readonly Option[] {
  const program = new Command();
  return addServerCommand(program).options;
}

/** The limits that `quintet server <args>` sets. */
function limitsFrom(args: readonly string[]): Record<string, unknown> {
  const program = new Command();
  program.exitOverride();
  let parsed: ServerCommandOptions | undefined;
  addServerCommand(program).action((options: ServerCommandOptions) => {
    parsed = options;
  });
  program.parse(['server', ...args], { from: 'user' });
  assert.ok(parsed !== undefined);
  return { ...(serverOptionsFromCli(parsed).limits ?? {}) };
}

describe('quintet server flags', () => {
  it('reach every server limit', () => {
    const baseline = limitsFrom([]);
    const reached = new Set<string>(Object.keys(baseline));
    for (const option of serverOptions()) {
      const flag = option.long;
      // Flags without a numeric value (switches, choices, paths) set no limit.
      if (flag === undefined || !option.required || option.argChoices !== undefined) continue;
      if (['--host', '--data', '--web', '--registration-token', '--port'].includes(flag)) continue;
      const limits = limitsFrom([flag, '7']);
      for (const [key, value] of Object.entries(limits)) {
        if (baseline[key] !== value) reached.add(key);
      }
    }
    const missing = Object.keys(DEFAULT_LIMITS).filter((key) => !reached.has(key));
    assert.deepEqual(missing, [], `limits without a flag: ${missing.join(', ')}`);
  });

  it('each have a row in docs/operations.md', () => {
    const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const rows = new Set(
      doc
        .split('\n')
        .filter((line) => line.startsWith('| `--'))
        .map((line) => /^\| `(--[a-z-]+)/.exec(line)?.[1]),
    );
    const undocumented = serverOptions()
      .map((option) => option.long)
      .filter((flag): flag is string => flag !== undefined && !rows.has(flag));
    assert.deepEqual(undocumented, [], `flags without a row: ${undocumented.join(', ')}`);
  });
});
