/**
 * Keeping this device's prekeys published: the EC one-time prekeys and,
 * for a post-quantum device, the KEM prekeys (account-setup.ts,
 * kem-prekeys.ts), topped up to their full targets at login and whenever
 * the server says the supply runs low (`PreKeysLow`).
 */
import type { ProtocolContext } from '../../protocol/context.js';
import { PRE_KEY_BATCH, refillPreKeys } from './account-setup.js';
import type { BackgroundTasks } from './background.js';
import type { EventStream } from './event-stream.js';
import type { ClientEvent } from './events.js';
import { KEM_PRE_KEY_BATCH, refillKemPreKeys } from './kem-prekeys.js';
import type { ServerApi } from './server-api.js';
import type { DeviceStore } from './store/device-store.js';

/** What the refills need from the client. */
export interface PreKeyRefillDeps {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly api: ServerApi;
  readonly events: EventStream<ClientEvent>;
  readonly background: BackgroundTasks;
  readonly postQuantum: boolean;
}

/** Serialised prekey top-ups of one client. */
export class PreKeyRefill {
  /** The last queued refill. */
  #chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: PreKeyRefillDeps) {}

  /**
   * At login: anything under the target is refilled, not only a count
   * under the server's threshold — keys taken while this device was
   * offline would otherwise stay missing until the supply ran low. A
   * post-quantum device also tops up its KEM prekeys here, and publishes
   * its first ones on the first start with the option on of an account
   * made without them (registered or linked v3-only, e.g. before
   * post-quantum sessions became the default).
   */
  afterLogin(remaining: { preKeys: number; kemPreKeys: number }): void {
    const kemLow = this.deps.postQuantum && remaining.kemPreKeys < KEM_PRE_KEY_BATCH;
    if (remaining.preKeys < PRE_KEY_BATCH || kemLow) this.refill();
  }

  /**
   * Queues a refill to the full target. Refills run one after another (the
   * login answer and a `PreKeysLow` push often ask at the same time), and
   * each reads the server's count afresh, so the second one uploads nothing.
   */
  refill(): void {
    const { ctx, store, api, events, background, postQuantum } = this.deps;
    const run = this.#chain.then(async () => {
      const count = await refillPreKeys(ctx, store, api);
      const kemCount = postQuantum ? await refillKemPreKeys(ctx, store, api) : 0;
      if (count > 0 || kemCount > 0) {
        events.emit({ type: 'pre-keys-uploaded', count, ...(postQuantum ? { kemCount } : {}) });
      }
    });
    // The chain only orders refills; a failure is reported by the spawned
    // task below, so the next refill still runs.
    this.#chain = run.catch(() => undefined);
    background.spawn('prekey refill', () => run);
  }
}
