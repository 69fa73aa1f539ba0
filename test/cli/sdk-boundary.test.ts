/**
 * The CLI and the browser app reach the client only through the SDK entry
 * points: the lint rule (eslint.config.js, no-restricted-imports) refuses an
 * import past them, and accepts the entry points themselves.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** The restricted-import messages of `code` linted as the file `path`. */
async function restricted(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, path) });
  return (result?.messages ?? [])
    .filter((message) => message.ruleId === 'no-restricted-imports')
    .map((message) => message.message);
}

describe('SDK boundary lint rule', () => {
  it('refuses core, transport and store imports in the CLI', async () => {
    for (const spec of [
      '../client/core/errors.js',
      '../client/transport/ws-transport.js',
      '../protocol/adv/index.js',
      '../wire/account-name.js',
      '../crypto/node.js',
      '../sdk/device.js',
    ]) {
      const found = await restricted('src/cli/run.ts', `import { x } from '${spec}';\nvoid x;\n`);
      assert.equal(found.length, 1, `${spec} was not refused`);
    }
  });

  it('refuses anything but the browser entry in the web app', async () => {
    for (const spec of [
      '../../src/client/core/errors.js',
      '../../src/sdk/index.js',
      '../../src/crypto/browser.js',
    ]) {
      const found = await restricted('web/src/qr.ts', `import { x } from '${spec}';\nvoid x;\n`);
      assert.equal(found.length, 1, `${spec} was not refused`);
    }
  });

  it('accepts the entry points', async () => {
    assert.deepEqual(
      await restricted(
        'src/cli/run.ts',
        "import { a } from '../sdk/index.js';\nimport { b } from '../sdk/values.js';\nimport { c } from '../server/main.js';\nvoid [a, b, c];\n",
      ),
      [],
    );
    assert.deepEqual(
      await restricted('web/src/qr.ts', "import { a } from '../../src/sdk/browser.js';\nvoid a;\n"),
      [],
    );
  });
});
