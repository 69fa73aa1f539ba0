/**
 * The load of the cluster's failure tests: senders stream numbered texts to
 * one recipient account whose devices sit on every node, while the test
 * breaks something (a node, the bus, the database). Each sender sends one
 * message at a time and retries a failed one until it succeeds, so its
 * order is defined; what it was told each time is kept, for the checks:
 *
 * - every text reaches every receiving device (nothing lost);
 * - in each sender's order;
 * - exactly once. A send cut off with its connection is sent again by the
 *   client core under the same message id, which the recipient shows once.
 *   Should the core give up and fail it (`transport-closed`, `timeout`: the
 *   server may have committed it before the answer was lost), this driver
 *   sends it again as a new message, and a second copy is reported apart
 *   (`ambiguousTwice`) so a test can tell the two failures apart. A text the
 *   server refused with a clear error was not committed, so it must show
 *   exactly once.
 */
import { ClientError } from '../../src/client/core/errors.js';
import type { FailoverDevice, Shown } from './sdk-devices.js';
import { sleep } from './harness.js';

/** What one send attempt was told. */
export type AttemptOutcome =
  | { readonly kind: 'ok' }
  /** The connection failed under the request: committed or not, nobody knows. */
  | { readonly kind: 'ambiguous'; readonly code: string }
  /** The server said no (retryable); nothing was committed. */
  | { readonly kind: 'refused'; readonly code: string; readonly retryAfterMs: number }
  /** The server failed without saying whether a retry helps (`internal`, say). */
  | { readonly kind: 'unclear'; readonly code: string };

/** One text and how its sends went. */
export interface SentRecord {
  readonly sender: string;
  readonly index: number;
  readonly text: string;
  readonly attempts: AttemptOutcome[];
  /** When the first attempt started. */
  startedAt: number;
  /** When the send that succeeded returned. */
  ackedAt: number;
}

/** Codes of a connection that failed under a request. */
const AMBIGUOUS = new Set(['transport-closed', 'timeout', 'closed', 'connect-failed']);

/** Classifies a failed send; throws (failing the test) on an error no retry can fix. */
export function classify(error: unknown): AttemptOutcome {
  if (!ClientError.is(error)) throw error;
  if (AMBIGUOUS.has(error.code)) return { kind: 'ambiguous', code: error.code };
  if (error.code === 'server-error') {
    const retryAfterMs = error.details?.retryAfterMs ?? 0;
    const code = error.serverCode ?? 'server-error';
    // A retryable refusal says so: a `retry_after_ms`, or the store's `unavailable`.
    if (retryAfterMs > 0 || code === 'unavailable') return { kind: 'refused', code, retryAfterMs };
    return { kind: 'unclear', code };
  }
  throw error;
}

/** Options of `runLoad`. */
export interface LoadOptions {
  readonly senders: readonly FailoverDevice[];
  /** The recipient account (all of its devices receive). */
  readonly recipient: string;
  /** Messages in total, split evenly across the senders. */
  readonly total: number;
  /** Pause between two sends of one sender, ms (spreads the load over the disruption). */
  readonly pauseMs?: number;
  /** Called once when `atFraction` of the messages were sent; the load goes on meanwhile. */
  readonly disrupt?: () => Promise<void>;
  readonly atFraction?: number;
}

/** Everything `runLoad` recorded. */
export interface LoadResult {
  readonly sent: readonly SentRecord[];
  /** Wall-clock time of the whole send phase, ms. */
  readonly sendMs: number;
}

/** Streams the messages (see the module comment) and runs `disrupt` part-way. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const started = Date.now();
  const sent: SentRecord[] = [];
  const perSender = Math.ceil(options.total / options.senders.length);
  const trigger = Math.floor(options.total * (options.atFraction ?? 0.3));
  let disruption: Promise<void> | undefined;
  let count = 0;
  const onSent = (): void => {
    count += 1;
    if (count === trigger && options.disrupt !== undefined) disruption = options.disrupt();
  };
  await Promise.all(
    options.senders.map(async (sender, s) => {
      const share = Math.min(perSender, options.total - s * perSender);
      for (let index = 0; index < share; index++) {
        const record: SentRecord = {
          sender: sender.device.account,
          index,
          text: `${sender.device.account}#${String(index).padStart(5, '0')}`,
          attempts: [],
          startedAt: 0,
          ackedAt: 0,
        };
        sent.push(record);
        await sendUntilAccepted(sender, options.recipient, record);
        onSent();
        if (options.pauseMs !== undefined) await sleep(options.pauseMs);
      }
    }),
  );
  await disruption;
  return { sent, sendMs: Date.now() - started };
}

/** Sends `record` until one attempt succeeds (a guard stops after 5 minutes). */
async function sendUntilAccepted(
  sender: FailoverDevice,
  recipient: string,
  record: SentRecord,
): Promise<void> {
  const deadline = Date.now() + 300_000;
  record.startedAt = Date.now();
  for (;;) {
    try {
      await sender.sendText(recipient, record.text);
      record.attempts.push({ kind: 'ok' });
      record.ackedAt = Date.now();
      return;
    } catch (error) {
      const outcome = classify(error);
      record.attempts.push(outcome);
      if (Date.now() > deadline) {
        throw new Error(`${record.text}: still failing after 5 minutes`, { cause: error });
      }
      await sleep(outcome.kind === 'refused' ? Math.min(outcome.retryAfterMs || 200, 2_000) : 200);
    }
  }
}

/** Waits until every receiver shows every sent text at least once (guarded by `timeoutMs`). */
export async function waitForAll(
  receivers: readonly FailoverDevice[],
  sent: readonly SentRecord[],
  timeoutMs = 180_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const receiver of receivers) {
    for (;;) {
      const texts = new Set(receiver.shown.map((m) => m.text));
      const missing = sent.filter((r) => !texts.has(r.text));
      if (missing.length === 0) break;
      if (Date.now() > deadline) {
        const names = missing.slice(0, 10).map((r) => r.text);
        throw new Error(
          `${receiver.label} is missing ${missing.length} message(s), e.g. ${names.join(', ')}`,
        );
      }
      await receiver.changed(500);
    }
  }
}

/** What one receiver showed, checked against what was sent. */
export interface ReceiverReport {
  readonly label: string;
  readonly missing: string[];
  /** Texts shown more than once whose sends were never ambiguous: a bug. */
  readonly duplicated: string[];
  /** Texts shown twice after a send that died with its connection (allowed, counted). */
  readonly ambiguousTwice: string[];
  /** Places where a sender's texts came out of order. */
  readonly outOfOrder: string[];
}

/** Checks one receiver (see the module comment). */
export function check(receiver: FailoverDevice, sent: readonly SentRecord[]): ReceiverReport {
  const byText = new Map(sent.map((r) => [r.text, r]));
  const counts = new Map<string, number>();
  const lastIndex = new Map<string, number>();
  const outOfOrder: string[] = [];
  for (const shown of receiver.shown) {
    const record = byText.get(shown.text);
    if (record === undefined || record.sender !== shown.from) continue;
    counts.set(shown.text, (counts.get(shown.text) ?? 0) + 1);
    const last = lastIndex.get(shown.from) ?? -1;
    // Equal is a retried text shown twice, right after its first copy.
    if (record.index < last) outOfOrder.push(`${shown.text} after #${last}`);
    lastIndex.set(shown.from, Math.max(last, record.index));
  }
  const missing: string[] = [];
  const duplicated: string[] = [];
  const ambiguousTwice: string[] = [];
  for (const record of sent) {
    const n = counts.get(record.text) ?? 0;
    if (n === 0) missing.push(record.text);
    else if (n > 1) {
      const ambiguous = record.attempts.filter((a) => a.kind === 'ambiguous').length;
      if (n - 1 <= ambiguous) ambiguousTwice.push(record.text);
      else duplicated.push(record.text);
    }
  }
  return { label: receiver.label, missing, duplicated, ambiguousTwice, outOfOrder };
}

/** One line per sender: attempts, and how many failed how. */
export function summarizeSends(sent: readonly SentRecord[]): string {
  const bySender = new Map<
    string,
    { texts: number; ambiguous: number; refused: Map<string, number> }
  >();
  for (const record of sent) {
    const row = bySender.get(record.sender) ?? {
      texts: 0,
      ambiguous: 0,
      refused: new Map<string, number>(),
    };
    row.texts += 1;
    for (const attempt of record.attempts) {
      if (attempt.kind === 'ambiguous') row.ambiguous += 1;
      if (attempt.kind === 'refused' || attempt.kind === 'unclear')
        row.refused.set(attempt.code, (row.refused.get(attempt.code) ?? 0) + 1);
    }
    bySender.set(record.sender, row);
  }
  return [...bySender]
    .map(
      ([sender, row]) =>
        `${sender}: ${row.texts} sent, ${row.ambiguous} connection failures, refused ${JSON.stringify(Object.fromEntries(row.refused))}`,
    )
    .join('; ');
}

/** The first time `receiver` showed each of `texts`. */
export function firstArrival(
  receiver: FailoverDevice,
  texts: ReadonlySet<string>,
): Map<string, Shown> {
  const out = new Map<string, Shown>();
  for (const shown of receiver.shown)
    if (texts.has(shown.text) && !out.has(shown.text)) out.set(shown.text, shown);
  return out;
}
