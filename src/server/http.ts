/**
 * Plain HTTP on the WebSocket port: `/healthz` for load balancers and
 * supervisors, `/metrics` for Prometheus, and — when a directory is
 * configured — static files (the browser companion app) at `/`; the blob
 * API under `/v1/blobs` (blobs/blob-routes.ts).
 *
 * Every response forbids framing (clickjacking: a hostile page overlaying
 * the companion's "approve" and "trust" buttons) and carries the same
 * Content-Security-Policy as web/index.html, which the app is built to
 * satisfy (scripts and styles from this origin, the socket to this origin).
 * Files are only served from inside the web directory: a symlink in it that
 * points elsewhere is not followed.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import type { BlobRoutes } from './blobs/blob-routes.js';

/** What the HTTP routes read. */
export interface HttpRoutesOptions {
  readonly health: () => Promise<Record<string, unknown>>;
  readonly metrics: () => Promise<string>;
  /** Serve files from this directory at `/` (index.html for directories). */
  readonly staticDir?: string;
  readonly logger: Logger;
  /** The blob API at `/v1/blobs` (blobs/blob-routes.ts). */
  readonly blobs?: BlobRoutes;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * web/index.html's policy plus `frame-ancestors 'none'`, which only works
 * as a header (browsers ignore it in a meta tag). `img-src blob:` admits
 * the object URLs the page makes itself for decrypted, verified image
 * attachments; no remote image can be loaded through it.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'referrer-policy': 'no-referrer',
  });
  res.end(body);
}

/** Resolves a URL path inside `root`, or undefined if it would escape it. */
function safePath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    // A malformed %-escape is a client error, answered with 404 below.
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const full = resolve(root, normalize(join('.', decoded)));
  return full === root || full.startsWith(root + sep) ? full : undefined;
}

/**
 * The real path of `path` if it exists and lies inside `realRoot` (so a
 * symlink out of the web directory — to /etc, to the database — is never
 * followed), else undefined.
 */
async function realPathInside(realRoot: string, path: string): Promise<string | undefined> {
  // A missing file or a dangling link is simply not there (404).
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) return undefined;
  return real === realRoot || real.startsWith(realRoot + sep) ? real : undefined;
}

async function serveStatic(root: string, urlPath: string, res: ServerResponse): Promise<boolean> {
  const lexical = safePath(root, urlPath);
  if (lexical === undefined) return false;
  const realRoot = await realpath(root).catch(() => undefined);
  if (realRoot === undefined) return false;
  let path = await realPathInside(realRoot, lexical);
  if (path === undefined) return false;
  let info = await stat(path).catch(() => undefined);
  if (info?.isDirectory() === true) {
    path = await realPathInside(realRoot, join(path, 'index.html'));
    if (path === undefined) return false;
    info = await stat(path).catch(() => undefined);
  }
  if (info?.isFile() !== true) return false;
  const body = await readFile(path);
  send(res, 200, CONTENT_TYPES[extname(path)] ?? 'application/octet-stream', body);
  return true;
}

/** The `request` listener of the HTTP server. */
export function createHttpHandler(
  options: HttpRoutesOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const root = options.staticDir === undefined ? undefined : resolve(options.staticDir);
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (options.blobs !== undefined && (await options.blobs.handle(req, res, path))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const health = await options.health();
      // Anything but "ok" (the database is down) takes the node out of a load balancer's pool.
      const code = health.status === 'ok' ? 200 : 503;
      send(res, code, 'application/json', `${JSON.stringify(health)}\n`);
      return;
    }
    if (path === '/metrics') {
      send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await options.metrics());
      return;
    }
    if (root !== undefined && (await serveStatic(root, path, res))) return;
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };
  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      options.logger.error({ err: error }, 'http request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  };
}
