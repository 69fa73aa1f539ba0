/**
 * The baseline for bench/server.ts: a plain `ws` relay with no storage, no
 * protobuf and no acks. A connection names itself with `?id=N`; every binary
 * message starts with the destination id (u32 BE) and is forwarded as is.
 * Run as a child process; it speaks the same IPC as bench/server-process.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { onControl } from './server-ipc.js';

const sockets = new Map<number, WebSocket>();
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const id = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('id'));
  sockets.set(id, ws);
  ws.on('message', (data: Buffer) => {
    const destination = sockets.get(data.readUInt32BE(0));
    destination?.send(data, { binary: true });
  });
  ws.on('close', () => {
    if (sockets.get(id) === ws) sockets.delete(id);
  });
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  onControl(`ws://127.0.0.1:${port}/`, async () => {
    http.close();
  });
});
