/**
 * The IPC a benchmark server process (Quintet or the plain relay) speaks
 * with bench/server.ts: announce the URL, report memory after a full GC and
 * CPU time, and stop on request.
 */

/** Messages from the orchestrator. */
export type ControlMessage =
  { readonly type: 'memory' } | { readonly type: 'cpu' } | { readonly type: 'close' };

/** Messages to the orchestrator. */
export type ReportMessage =
  | { readonly type: 'ready'; readonly url: string }
  | {
      readonly type: 'memory';
      readonly rss: number;
      readonly heapUsed: number;
      readonly external: number;
      readonly arrayBuffers: number;
      readonly cpuUserMs: number;
      readonly cpuSystemMs: number;
    }
  /** CPU time so far, without the full GC of `memory` (taken while load runs). */
  | { readonly type: 'cpu'; readonly cpuMs: number; readonly systemMs: number };

function fullGc(): void {
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc === 'function') {
    gc();
    gc();
  }
}

/** Wires up the IPC for a server process. */
export function onControl(url: string, close: () => Promise<void>): void {
  const send = (message: ReportMessage): void => {
    process.send?.(message);
  };
  process.on('message', (message: ControlMessage) => {
    if (message.type === 'memory') {
      fullGc();
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      send({
        type: 'memory',
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
      });
    } else if (message.type === 'cpu') {
      const cpu = process.cpuUsage();
      send({ type: 'cpu', cpuMs: (cpu.user + cpu.system) / 1000, systemMs: cpu.system / 1000 });
    } else if (message.type === 'close') {
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    }
  });
  send({ type: 'ready', url });
}
