/**
 * The baseline for bench/server.ts: a plain `ws` relay with no storage and
 * no protobuf, doing the same WebSocket round trips as Quintet's
 * store-and-forward delivery, so the ratio compares storage + protocol cost
 * and not a different number of messages:
 *
 *   sender    → relay   SEND  [0x01][u32 destination id][u32 request id][content]
 *   relay     → dest    PUSH  [0x02][content]                 (Quintet: Push.envelope)
 *   relay     → sender  RESP  [0x03][u32 request id]          (Quintet: SendMessageResponse)
 *   dest      → relay   ACK   [0x04][u32 request id][16 B id]… (Quintet: AckRequest)
 *   relay     → dest    RESP  [0x03][u32 request id]          (Quintet: AckResponse)
 *
 * i.e. 2 messages received and 3 sent per delivered message on both sides.
 * A connection names itself with `?id=N`. Run as a child process; it speaks
 * the same IPC as bench/server-process.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { RelayKind } from './relay-wire.js';
import { onControl } from './server-ipc.js';

function response(requestId: number): Buffer {
  const out = Buffer.allocUnsafe(5);
  out[0] = RelayKind.response;
  out.writeUInt32BE(requestId, 1);
  return out;
}

const sockets = new Map<number, WebSocket>();
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const id = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('id'));
  sockets.set(id, ws);
  ws.on('message', (data: Buffer) => {
    if (data.length < 5) return;
    const requestId = data.readUInt32BE(data[0] === RelayKind.send ? 5 : 1);
    if (data[0] === RelayKind.send && data.length >= 9) {
      const push = data.subarray(8);
      push[0] = RelayKind.push;
      sockets.get(data.readUInt32BE(1))?.send(push, { binary: true });
    }
    ws.send(response(requestId), { binary: true });
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
