/** Helpers for blob API tests: credentials, raw uploads, a proxy that cuts a download. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ServerApi } from '../../../src/client/core/server-api.js';
import type { ConnectedDevice } from './device.js';

/** A blob credential for `device`, asked through the client core's `ServerApi`. */
export async function credentialFor(device: ConnectedDevice): Promise<string> {
  const api = new ServerApi({
    request: (body) => device.client.request(body),
    pushes: (async function* () {})(),
    close: () => Promise.resolve(),
  });
  const { token, expiresAt } = await api.getBlobCredential();
  assert.ok(token.length > 20);
  assert.ok(expiresAt > 0);
  return token;
}

/** What a raw HTTP exchange returned. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
  /** Whether the server closed the connection after answering. */
  readonly closedByServer: boolean;
}

/**
 * Sends `head` (request line and headers, no blank line) and then `body`
 * bytes over a plain socket, leaves the socket open (`end: false`) or
 * half-closes it, and resolves with the answer. `closedByServer` tells
 * whether the server hung up after answering (waited for up to 10 s: a
 * hang guard, not a timing assertion — a server that keeps the socket
 * open never closes it).
 */
export function rawExchange(
  url: string,
  head: string,
  body: Uint8Array,
  options: { end: boolean },
): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let answered: Omit<RawAnswer, 'closedByServer'> | undefined;
    let guard: NodeJS.Timeout | undefined;
    const parse = (): Omit<RawAnswer, 'closedByServer'> | undefined => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return undefined;
      const headers = text.slice(0, split);
      const answer = text.slice(split + 4);
      const length = /content-length: (\d+)/i.exec(headers)?.[1];
      if (length !== undefined && answer.length < Number(length)) return undefined;
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1]);
      return { status, headers, body: answer };
    };
    socket.on('data', (data: Buffer) => {
      chunks.push(data);
      if (answered !== undefined) return;
      answered = parse();
      if (answered !== undefined) {
        guard = setTimeout(() => {
          socket.destroy();
          if (answered !== undefined) resolve({ ...answered, closedByServer: false });
        }, 10_000);
      }
    });
    socket.on('close', () => {
      clearTimeout(guard);
      answered ??= parse();
      if (answered === undefined) reject(new Error('the server closed without answering'));
      else resolve({ ...answered, closedByServer: true });
    });
    socket.on('error', () => undefined);
    socket.write(`${head}\r\n\r\n`);
    if (body.length > 0) socket.write(body);
    if (options.end) socket.end();
  });
}

/** The head of a POST /v1/blobs. */
export function uploadHead(url: string, token: string | undefined, length: number): string {
  const { host } = new URL(url);
  return [
    'POST /v1/blobs?kind=attachment HTTP/1.1',
    `Host: ${host}`,
    ...(token === undefined ? [] : [`Authorization: Bearer ${token}`]),
    `Content-Length: ${length}`,
  ].join('\r\n');
}

/**
 * A TCP proxy in front of `target` that cuts its first `cuts` connections
 * after `after` bytes from the server: a download broken mid-body.
 */
export async function cuttingProxy(
  target: string,
  after: number,
  cuts: number,
): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const { hostname, port } = new URL(target);
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    connections += 1;
    const cut = connections <= cuts;
    const upstream = connect({ host: hostname, port: Number(port) });
    sockets.add(client);
    sockets.add(upstream);
    let forwarded = 0;
    upstream.on('data', (data: Buffer) => {
      if (cut && forwarded + data.length >= after) {
        client.write(data.subarray(0, Math.max(0, after - forwarded)));
        client.destroy();
        upstream.destroy();
        return;
      }
      forwarded += data.length;
      client.write(data);
    });
    client.on('data', (data: Buffer) => upstream.write(data));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  return {
    url: `http://127.0.0.1:${address.port}`,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it is true (a hang guard, not a timing assertion). */
export async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`never happened: ${what}`);
}

/** One metric's value from /metrics text. */
export async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/**
 * Starts an upload of `size` bytes, sends `sent` of them and keeps the
 * socket open (the upload stays in progress). Destroy the socket to cut it.
 */
export function startUpload(url: string, token: string, size: number, sent: number): Socket {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.on('error', () => undefined);
  socket.write(`${uploadHead(url, token, size)}\r\n\r\n`);
  socket.write(randomBytes(sent));
  return socket;
}
