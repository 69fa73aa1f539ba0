/**
 * SHA-256 on a worker thread, for the attachment pipeline (Node only).
 *
 * An attachment pointer carries SHA-256 of the plaintext and of the
 * ciphertext, so encrypting or decrypting a file costs two hash passes on top
 * of AES-CBC and HMAC. Done inline they cut throughput by about a third;
 * here they run on one shared worker thread while the calling thread does
 * AES + HMAC, so on a machine with two cores the hashes cost only a copy.
 *
 * Bounds: each running hash copies its input into staging batches of
 * `BATCH` bytes that are transferred (not copied again) to the worker and
 * back with its acknowledgement, into a pool the next batches reuse (no
 * allocation per batch, so no garbage for either thread's GC to lag on); and
 * at most `MAX_IN_FLIGHT` bytes per hash wait there; `update` returns a
 * promise when that budget is used up (backpressure), so a fast producer
 * cannot queue a whole file in memory.
 *
 * Lifetime: the worker starts on first use, is shared by every hash of the
 * process, and never keeps the process alive by itself (it is `unref`'d
 * except while a caller awaits it). A worker that dies rejects every running
 * hash with `CryptoError('offload-failed')`; the next hash starts a new one.
 * `closeSha256Worker` stops it (tests, clean shutdown).
 */
import { Worker } from 'node:worker_threads';
import { CryptoError, type OffloadedDigest } from './provider.js';

/** Bytes copied into one message to the worker. */
const BATCH = 256 * 1024;
/** Bytes of one hash that may wait on the worker before `update` asks its caller to wait. */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;
/** Pooled staging buffers kept (two hashes' budgets, plus their staging batch). */
const POOL_LIMIT = (2 * MAX_IN_FLIGHT) / BATCH + 2;

/*
 * The worker's whole program. Inline (eval) rather than a file beside this
 * one, so it loads the same way from dist/ and from sources run through tsx.
 * Dynamic imports work whether Node runs it as a script or a module (the
 * parent's --input-type decides), and `execArgv: []` keeps loaders the
 * parent runs under (tsx) out of a worker that needs none.
 * Messages: open/data/end/drop from here, ack/digest/error back.
 */
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([threads, crypto]) => {
const { parentPort } = threads;
const { createHash } = crypto;
const hashes = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.t === 'open') hashes.set(m.id, createHash('sha256'));
    else if (m.t === 'data') {
      const hash = hashes.get(m.id);
      if (hash !== undefined) hash.update(new Uint8Array(m.buf, 0, m.n));
      parentPort.postMessage({ t: 'ack', id: m.id, n: m.n, buf: m.buf }, [m.buf]);
    } else if (m.t === 'end') {
      const hash = hashes.get(m.id);
      hashes.delete(m.id);
      if (hash === undefined) throw new Error('unknown hash');
      const d = hash.digest();
      const out = new Uint8Array(d.length);
      out.set(d);
      parentPort.postMessage({ t: 'digest', id: m.id, buf: out.buffer }, [out.buffer]);
    } else if (m.t === 'drop') hashes.delete(m.id);
  } catch (e) {
    hashes.delete(m.id);
    parentPort.postMessage({ t: 'error', id: m.id, message: e instanceof Error ? e.message : 'hash failed' });
  }
});
});
`;

type FromWorker =
  | { readonly t: 'ack'; readonly id: number; readonly n: number; readonly buf: ArrayBuffer }
  | { readonly t: 'digest'; readonly id: number; readonly buf: ArrayBuffer }
  | { readonly t: 'error'; readonly id: number; readonly message: string };

/** The main-thread side of one running hash. */
interface Job {
  inFlight: number;
  /** Resolves a caller waiting for room (backpressure). */
  room?: { resolve(): void; reject(error: Error): void };
  result?: { resolve(digest: Uint8Array): void; reject(error: Error): void };
  failed?: CryptoError;
}

class HashWorker {
  readonly #worker: Worker;
  readonly #jobs = new Map<number, Job>();
  #nextId = 1;
  /** Staging buffers back from the worker, for reuse. */
  readonly #pool: ArrayBuffer[] = [];
  /** Callers awaiting the worker right now; the worker is ref'd only while > 0. */
  #waiting = 0;
  #dead = false;

  constructor(private readonly onDeath: (worker: HashWorker) => void) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.#worker.on('message', (message: FromWorker) => this.#receive(message));
    this.#worker.on('error', (error) => this.#die(error.message));
    this.#worker.on('exit', () => this.#die('the hash worker exited'));
    // After the listeners: adding a 'message' listener refs the worker again.
    this.#worker.unref();
  }

  open(): OffloadedDigest {
    if (this.#dead) throw new CryptoError('offload-failed', 'the hash worker is gone');
    const id = this.#nextId++;
    const job: Job = { inFlight: 0 };
    this.#jobs.set(id, job);
    this.#worker.postMessage({ t: 'open', id });
    let staging: Uint8Array | undefined;
    let staged = 0;
    let state: 'open' | 'ended' | 'dropped' = 'open';
    const flush = (): void => {
      if (staging === undefined || staged === 0) return;
      // The staging buffer is handed over (transferred), not copied again.
      const buf = staging.buffer as ArrayBuffer;
      job.inFlight += staged;
      this.#worker.postMessage({ t: 'data', id, buf, n: staged }, [buf]);
      staging = undefined;
      staged = 0;
    };
    return {
      update: (chunk) => {
        if (state !== 'open') throw new CryptoError('invalid-argument', 'hash already finished');
        if (job.failed !== undefined) throw job.failed;
        // Copied now, so the caller may reuse or hand on `chunk` at once.
        let offset = 0;
        while (offset < chunk.length) {
          staging ??= this.#take();
          const n = Math.min(BATCH - staged, chunk.length - offset);
          staging.set(chunk.subarray(offset, offset + n), staged);
          staged += n;
          offset += n;
          if (staged === BATCH) flush();
        }
        if (job.inFlight <= MAX_IN_FLIGHT) return undefined;
        return this.#await(
          new Promise<void>((resolve, reject) => {
            job.room = { resolve, reject };
          }),
        );
      },
      digest: () => {
        if (state !== 'open') throw new CryptoError('invalid-argument', 'hash already finished');
        state = 'ended';
        if (job.failed !== undefined) return Promise.reject(job.failed);
        flush();
        const result = new Promise<Uint8Array>((resolve, reject) => {
          job.result = { resolve, reject };
        });
        this.#worker.postMessage({ t: 'end', id });
        return this.#await(result);
      },
      abort: () => {
        if (state !== 'open') return;
        state = 'dropped';
        this.#jobs.delete(id);
        // A producer parked on backpressure is let go, so nothing keeps
        // waiting (and keeping the worker ref'd) for a hash nobody wants.
        job.room?.resolve();
        delete job.room;
        if (!this.#dead) this.#worker.postMessage({ t: 'drop', id });
      },
    };
  }

  /** Keeps the process alive while a caller waits on the worker, and only then. */
  async #await<T>(promise: Promise<T>): Promise<T> {
    if (this.#waiting++ === 0) this.#worker.ref();
    try {
      return await promise;
    } finally {
      if (--this.#waiting === 0 && !this.#dead) this.#worker.unref();
    }
  }

  /** A staging buffer from the pool, or a new one. */
  #take(): Uint8Array {
    const buf = this.#pool.pop();
    return buf === undefined ? new Uint8Array(BATCH) : new Uint8Array(buf);
  }

  #receive(message: FromWorker): void {
    if (message.t === 'ack' && this.#pool.length < POOL_LIMIT) this.#pool.push(message.buf);
    const job = this.#jobs.get(message.id);
    if (job === undefined) return;
    if (message.t === 'ack') {
      job.inFlight -= message.n;
      // Wake the producer at half the budget, not at the first byte free,
      // so it does not ping-pong one batch at a time.
      if (job.room !== undefined && job.inFlight <= MAX_IN_FLIGHT / 2) {
        const room = job.room;
        delete job.room;
        room.resolve();
      }
    } else if (message.t === 'digest') {
      this.#jobs.delete(message.id);
      job.result?.resolve(new Uint8Array(message.buf));
    } else {
      this.#jobs.delete(message.id);
      this.#fail(job, new CryptoError('offload-failed', `hashing failed: ${message.message}`));
    }
  }

  #fail(job: Job, error: CryptoError): void {
    job.failed = error;
    job.room?.reject(error);
    job.result?.reject(error);
    delete job.room;
    delete job.result;
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.onDeath(this);
    const error = new CryptoError('offload-failed', reason);
    for (const job of this.#jobs.values()) this.#fail(job, error);
    this.#jobs.clear();
  }

  async close(): Promise<void> {
    this.#die('the hash worker was closed');
    await this.#worker.terminate();
  }
}

let shared: HashWorker | undefined;

/** A SHA-256 computed on the shared worker thread (started on first use). */
export function createOffloadedSha256(): OffloadedDigest {
  shared ??= new HashWorker((dead) => {
    if (shared === dead) shared = undefined;
  });
  return shared.open();
}

/** Stops the shared worker; running hashes fail with `offload-failed`. */
export async function closeSha256Worker(): Promise<void> {
  const worker = shared;
  shared = undefined;
  await worker?.close();
}
