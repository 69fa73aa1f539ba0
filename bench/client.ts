/**
 * Client round trips and frames (issue 13): how much the client core makes
 * the wire wait for, measured on the real server in-process with real
 * clients over real WebSockets. One JSON line per figure:
 *
 * - `cold-send`: request frames in sequence (the longest chain of requests
 *   where each was sent after the previous one's response arrived) for a
 *   first `sendText` to a peer with 2 devices, and the request frames in
 *   total; `warm-send` the same for the next message;
 * - `acks`: ack frames the receiver sends per 1,000 received envelopes;
 * - `delivery-receipts`: delivery receipt sends (SendMessage frames to the
 *   sender) per 1,000 messages from one sender.
 *
 * Counts, not times: each row is exact for one run and the same in every
 * run, so no repetitions or medians are needed. BENCH_MESSAGES changes the
 * backlog size (default 1,000).
 */
import type { RequestBody } from '../src/wire/frame.js';
import type { Transport } from '../src/client/core/transport.js';
import {
  linkDevice,
  registerDevice,
  testServer,
  type TestDevice,
} from '../test/client/helpers/clients.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1000);

/** Records every request frame and the depth of its chain of sequential round trips. */
class WireWatch {
  frames: Array<{ readonly kind: string; readonly depth: number; readonly body: RequestBody }> = [];
  /** The deepest chain whose last response has arrived. */
  #answered = 0;

  reset(): void {
    this.frames = [];
    this.#answered = 0;
  }

  /** Longest chain of request → response → request … since `reset`. */
  get inSequence(): number {
    return this.frames.reduce((max, frame) => Math.max(max, frame.depth), 0);
  }

  count(kind: string, filter: (body: RequestBody) => boolean = () => true): number {
    return this.frames.filter((frame) => frame.kind === kind && filter(frame.body)).length;
  }

  readonly wrap = (transport: Transport): Transport => ({
    request: async (body: RequestBody) => {
      // A request sent now can only depend on responses already in.
      const depth = this.#answered + 1;
      this.frames.push({ kind: body?.case ?? 'none', depth, body });
      const response = await transport.request(body);
      this.#answered = Math.max(this.#answered, depth);
      return response;
    },
    get pushes() {
      return transport.pushes;
    },
    close: () => transport.close(),
  });
}

function row(figure: string, values: Record<string, number | string>): void {
  process.stdout.write(`${JSON.stringify({ bench: 'client', figure, ...values })}\n`);
}

const server = await testServer();
try {
  // (a) A cold send to a peer with two devices, then a warm one.
  const bob = await registerDevice(server, 'bob');
  await linkDevice(server, bob, 'bob-laptop');
  const alice = await registerDevice(server, 'alice');
  const watch = new WireWatch();
  const sender = await alice.online({ wrap: watch.wrap });
  await sender.client.idle();
  watch.reset();
  await sender.client.sendText('bob', 'first');
  row('cold-send', {
    peerDevices: 2,
    roundTripsInSequence: watch.inSequence,
    requestFrames: watch.frames.length,
    frames: watch.frames.map((frame) => `${frame.kind}@${frame.depth}`).join(' '),
  });
  watch.reset();
  await sender.client.sendText('bob', 'second');
  row('warm-send', {
    peerDevices: 2,
    roundTripsInSequence: watch.inSequence,
    requestFrames: watch.frames.length,
  });
  await sender.client.close();

  // (b), (c) A backlog of messages from one sender, received in one go.
  const carol = await registerDevice(server, 'carol');
  const dave: TestDevice = await registerDevice(server, 'dave');
  const from = await carol.online();
  for (let i = 0; i < MESSAGES; i++) await from.client.sendText('dave', `message ${i}`);
  await from.client.idle();
  const receiving = new WireWatch();
  const to = await dave.online({ wrap: receiving.wrap });
  await to.events.next('queue-drained', 600_000);
  await to.client.idle();
  const received = to.events.all('message').length;
  let acked = 0;
  for (const frame of receiving.frames) {
    if (frame.body?.case !== 'ack') continue;
    const guids: readonly Uint8Array[] = frame.body.value.serverGuids ?? [];
    acked += guids.length;
  }
  const per1000 = (n: number): number => Math.round((n * 1000 * 10) / Math.max(received, 1)) / 10;
  const ackFrames = receiving.count('ack');
  row('acks', {
    envelopes: received,
    ackFrames,
    ackedGuids: acked,
    ackFramesPer1000: per1000(ackFrames),
  });
  const receiptFrames = receiving.count(
    'sendMessage',
    (body) => body?.case === 'sendMessage' && body.value?.destination === 'carol',
  );
  row('delivery-receipts', {
    messages: received,
    receiptFrames,
    receiptFramesPer1000: per1000(receiptFrames),
  });
  await to.client.close();
  await from.client.close();
} finally {
  await server.close();
}
