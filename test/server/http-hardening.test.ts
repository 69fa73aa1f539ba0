/**
 * HTTP responses: the web app cannot be framed (X-Frame-Options and a CSP
 * with frame-ancestors 'none', otherwise the policy the app ships with), and
 * symlinks out of the web directory are not followed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from './helpers/server.js';

const INDEX_HTML = fileURLToPath(new URL('../../web/index.html', import.meta.url));

/** The directives of a CSP string, by name. */
function directives(policy: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of policy.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name !== undefined && name !== '') out.set(name, values.join(' '));
  }
  return out;
}

describe('HTTP hardening', () => {
  let t: TestServer;
  let base: string;
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'quintet-http-'));
    const web = join(base, 'web');
    mkdirSync(join(web, 'sub'), { recursive: true });
    writeFileSync(join(web, 'index.html'), '<h1>quintet</h1>');
    writeFileSync(join(web, 'sub', 'index.html'), 'sub');
    writeFileSync(join(base, 'secret.txt'), 'outside the web root');
    mkdirSync(join(base, 'elsewhere'));
    writeFileSync(join(base, 'elsewhere', 'index.html'), 'outside too');
    // Links out of the root (a file, a directory) and one that stays inside.
    symlinkSync(join(base, 'secret.txt'), join(web, 'leak.txt'));
    symlinkSync(join(base, 'elsewhere'), join(web, 'outdir'));
    symlinkSync(join(web, 'index.html'), join(web, 'alias.html'));
    t = await startTestServer({ staticDir: web });
  });
  after(async () => {
    await t.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('forbids framing on every response', async () => {
    for (const path of ['/', '/healthz', '/metrics', '/nothing']) {
      const response = await fetch(`${t.server.url}${path}`);
      await response.arrayBuffer();
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
      const csp = directives(response.headers.get('content-security-policy') ?? '');
      assert.equal(csp.get('frame-ancestors'), "'none'", path);
    }
  });

  it("sends the web app's own policy, so the built app still loads", async () => {
    const html = readFileSync(INDEX_HTML, 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    assert.ok(meta !== undefined, 'web/index.html has a CSP meta tag');
    const response = await fetch(`${t.server.url}/`);
    await response.arrayBuffer();
    const header = directives(response.headers.get('content-security-policy') ?? '');
    for (const [name, value] of directives(meta)) assert.equal(header.get(name), value, name);
  });

  it('does not follow symlinks out of the web root', async () => {
    assert.equal((await fetch(`${t.server.url}/leak.txt`)).status, 404);
    assert.equal((await fetch(`${t.server.url}/outdir/`)).status, 404);
    assert.equal((await fetch(`${t.server.url}/outdir/index.html`)).status, 404);
    const inside = await fetch(`${t.server.url}/alias.html`);
    assert.equal(inside.status, 200);
    assert.equal(await inside.text(), '<h1>quintet</h1>');
    assert.equal(await (await fetch(`${t.server.url}/sub/`)).text(), 'sub');
  });
});
