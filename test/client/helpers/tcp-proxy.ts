/**
 * A TCP proxy a test can cut: clients connect to the proxy's port, every
 * connection is piped to the target. `cut()` destroys every open connection
 * without a WebSocket close frame (a dropped network: the client sees 1006),
 * `stall()` silently stops forwarding on every open connection without
 * closing it (a network that dies without telling anyone), and
 * `refuse(true)` makes new connections fail until `refuse(false)`.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every open connection (both sides), without any closing handshake. */
  cut(): void;
  /** Stops forwarding on every open connection, leaving them open (a black hole). */
  stall(): void;
  /** While true, new connections are destroyed as soon as they arrive. */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

/** Starts a proxy on a free port forwarding to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const pairs = new Set<readonly [Socket, Socket]>();
  let refusing = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    accepted += 1;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => {
        open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      // A reset on either side ends both; 'close' follows and cleans up.
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const pair = [client, upstream] as const;
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    get accepted() {
      return accepted;
    },
    cut() {
      for (const socket of open) socket.resetAndDestroy();
    },
    stall() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    refuse(on: boolean) {
      refusing = on;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
