/**
 * The options and results of `QuintetDevice` (device.ts): how to open a
 * device, and what approving a companion takes and returns.
 */
import type { HistoryChoice } from '../client/core/history/archive-builder.js';
import type { PrimaryHistoryResult } from '../client/core/history/primary-sync.js';
import type { ApprovedCompanion } from '../client/core/linking/approve.js';
import type { ReconnectorOptions } from '../client/core/reconnector.js';
import type { ChatRules } from '../client/core/chat/chat-rules.js';
import type { DeviceStore } from '../client/core/store/device-store.js';
import type { ApproveProgress } from './events.js';
import type { Platform } from './platform.js';

/** How to open a device. */
export interface OpenOptions {
  /** The device's store (Node: `openProfileStore`; browser: `openBrowserStore`). */
  readonly store: DeviceStore;
  /** The platform (`nodePlatform` or `browserPlatform`). */
  readonly platform: Platform;
  /**
   * Server URLs, tried in order and rotated over on failure (a cluster's
   * nodes). Default: the list the device registered or linked with.
   */
  readonly servers?: string | readonly string[];
  /**
   * Process incoming envelopes (default true). A one-shot sender turns this
   * off: what it does not read stays queued for the next reader.
   */
  readonly receive?: boolean;
  /**
   * Stop with `ready()` rejecting when the first attempt on every server
   * fails (a command run by hand). Default false: keep retrying, as an app does.
   */
  readonly failFast?: boolean;
  /**
   * Whether `close()` also closes the store (default true). An app that
   * keeps using the store after the device stops (to show stored messages,
   * or to wipe it) passes false and closes it itself.
   */
  readonly ownsStore?: boolean;
  /**
   * The chat windows and timer unit this device enforces (default
   * `DEFAULT_CHAT_RULES`: edit 15 min, delete 48 h). Every device of a chat
   * must use the same rules, or they disagree about which edits and
   * deletes stand.
   */
  readonly chatRules?: ChatRules;
  /**
   * Post-quantum sessions (default true): the device keeps signed
   * Kyber1024 KEM prekeys published and its new sessions with devices that
   * publish them are v4 (PQXDH + SPQR triple ratchet); with devices that do
   * not, v3. Open sessions are kept, v3 ones included. `false` opts out:
   * no KEM prekey uploads, the sessions it starts are v3 (docs/sdk.md).
   */
  readonly postQuantum?: boolean;
  /** Backoff tunables and a timer for tests (see `ReconnectorOptions`). */
  readonly backoff?: ReconnectorOptions['backoff'];
  /**
   * The timer of everything the device waits on — connect and request
   * timeouts, backoff, keep-alive probes, rate-limit and blob-retry waits
   * (default: the platform timer). A host or test with its own clock passes
   * one driven by that clock.
   */
  readonly schedule?: ReconnectorOptions['schedule'];
}

/** What `approve` needs besides the link code. */
export interface ApproveOptions {
  /**
   * The local-authentication step (a PIN, a passkey): called before
   * anything is signed; throw to refuse. Whoever holds an unlocked primary
   * must not be able to link a device of their own without it.
   */
  readonly authorize: () => Promise<void>;
  /** History to send the new companion (default `{ days: 90 }`; `none` sends only account state). */
  readonly history?: HistoryChoice;
  /** How long to wait for the companion to complete its link, ms (default 300000). */
  readonly timeoutMs?: number;
  /** Progress of the history send. */
  readonly onProgress?: (progress: ApproveProgress) => void;
  /**
   * Called once the server accepted the approval, before the history send
   * starts (which waits for the companion).
   */
  readonly onApproved?: (approved: ApprovedCompanion) => void;
}

/** The outcome of `approve`: the new device, and what history it was sent. */
export interface ApproveResult extends ApprovedCompanion {
  /** Undefined when the history send failed; the approval stands anyway (see `historyError`). */
  readonly history: PrimaryHistoryResult | undefined;
  /** Why the history send failed, if it did (the device works without it). */
  readonly historyError?: unknown;
}
