/**
 * Write coalescing of client sockets: each socket written to during an
 * event-loop turn is corked once and uncorked at the turn's end.
 */
import { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { TurnScheduler } from './turn-end.js';

/**
 * Sockets corked during the current event-loop turn; uncorked together at
 * its end, after the group commit (see turn-end.ts). ws writes each message
 * with its own writev (one system call each); corking coalesces everything
 * a connection gets in one turn — acknowledgement responses, send responses,
 * pushes — into one write, without delaying any of it past the turn that
 * produced it. One per server (with the server's turn scheduler).
 */
export class SocketCorker {
  private readonly corked: Socket[] = [];

  constructor(private readonly turns: TurnScheduler) {}

  corkForThisTurn(socket: Socket): void {
    if (socket.writableCorked > 0) return;
    socket.cork();
    if (this.corked.length === 0) this.turns.atTurnEnd('write', this.uncorkAll);
    this.corked.push(socket);
  }

  private readonly uncorkAll = (): void => {
    for (const socket of this.corked) socket.uncork();
    this.corked.length = 0;
  };
}

/**
 * The TCP socket under a ws WebSocket, for corking. ws keeps it in a
 * private `_socket` field; if a future ws moves it, writes are simply not
 * coalesced.
 */
export function tcpSocket(ws: WebSocket): Socket | undefined {
  const socket: unknown = Reflect.get(ws, '_socket');
  return socket instanceof Socket ? socket : undefined;
}
