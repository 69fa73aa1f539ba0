/**
 * Local user authentication before a device-management approval (linking
 * step 3: WhatsApp asks for biometrics or the device PIN before the primary
 * vouches for a companion). Whoever holds the unlocked primary for a moment
 * must not be able to link their own companion, or remove the owner's.
 *
 * Guessing is throttled: after `MAX_PIN_FAILURES` wrong PINs in a row,
 * approvals are locked for `PIN_LOCK_MS`. The failure count and lock end
 * live in the profile's settings, so separate CLI runs count together and a
 * restart does not reset the lock. Success clears both.
 *
 * How a PIN is checked (scrypt in the CLI, WebCrypto PBKDF2 in a browser)
 * is injected, as is the clock, so this module stays pure and testable.
 */
import type { Clock } from '../../../crypto/provider.js';
import type { SettingsStore } from '../store/client-stores.js';
import { LinkingError } from './errors.js';

/** Wrong PINs in a row before approvals lock. */
export const MAX_PIN_FAILURES = 5;
/** How long approvals stay locked, ms. */
export const PIN_LOCK_MS = 5 * 60 * 1000;
/** Settings key of the persisted failure state. */
export const PIN_FAILURES_SETTING = 'pin-failures';

/** The persisted lockout state. */
export interface PinFailureState {
  /** Wrong PINs since the last success (or since the last lock ended). */
  readonly failures: number;
  /** ms since the epoch until which approvals are refused; 0 when unlocked. */
  readonly lockedUntil: number;
}

/** What `LocalAuthGate` needs. */
export interface LocalAuthOptions {
  readonly settings: SettingsStore;
  readonly clock: Clock;
  /** Checks a PIN against the stored hash; throws if no PIN is stored. */
  readonly verify: (pin: string) => Promise<boolean>;
}

const EMPTY: PinFailureState = { failures: 0, lockedUntil: 0 };

function encodeState(state: PinFailureState): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, state.failures, false);
  view.setFloat64(4, state.lockedUntil, false);
  return bytes;
}

/**
 * A damaged record must not hand a guesser a fresh set of attempts, nor brick
 * approvals for good: it counts as one attempt short of the lock.
 */
const DAMAGED: PinFailureState = { failures: MAX_PIN_FAILURES - 1, lockedUntil: 0 };

function decodeState(bytes: Uint8Array | undefined): PinFailureState {
  if (bytes === undefined) return EMPTY;
  if (bytes.length !== 12) return DAMAGED;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 12);
  const failures = view.getUint32(0, false);
  const lockedUntil = view.getFloat64(4, false);
  if (!Number.isFinite(lockedUntil) || lockedUntil < 0) return DAMAGED;
  return { failures, lockedUntil };
}

/** Gate for PIN-protected approvals, with persistent lockout. */
export class LocalAuthGate {
  readonly #options: LocalAuthOptions;

  constructor(options: LocalAuthOptions) {
    this.#options = options;
  }

  /** The current lockout state (for display). */
  async state(): Promise<PinFailureState> {
    return decodeState(await this.#options.settings.get(PIN_FAILURES_SETTING));
  }

  /**
   * Resolves when `pin` is right and approvals are not locked. Throws
   * `pin-locked` (with `lockedUntil`) while locked — without even checking
   * the PIN, so a locked gate gives a guesser no signal — and `wrong-pin`
   * (with `attemptsLeft`) for a wrong PIN; the fifth wrong PIN in a row
   * throws `pin-locked`.
   */
  async authorize(pin: string): Promise<void> {
    const now = this.#options.clock.now();
    let state = await this.state();
    if (state.lockedUntil > now) throw locked(state.lockedUntil, now);
    // A lock that has passed starts a fresh count.
    if (state.lockedUntil !== 0) state = EMPTY;
    if (await this.#options.verify(pin)) {
      await this.#options.settings.delete(PIN_FAILURES_SETTING);
      return;
    }
    const failures = state.failures + 1;
    if (failures >= MAX_PIN_FAILURES) {
      const lockedUntil = now + PIN_LOCK_MS;
      await this.#save({ failures, lockedUntil });
      throw locked(lockedUntil, now);
    }
    await this.#save({ failures, lockedUntil: 0 });
    const attemptsLeft = MAX_PIN_FAILURES - failures;
    throw new LinkingError('wrong-pin', 'wrong PIN', { attemptsLeft });
  }

  async #save(state: PinFailureState): Promise<void> {
    await this.#options.settings.put(PIN_FAILURES_SETTING, encodeState(state));
  }
}

function locked(lockedUntil: number, now: number): LinkingError {
  const seconds = Math.max(1, Math.ceil((lockedUntil - now) / 1000));
  return new LinkingError(
    'pin-locked',
    `too many wrong PINs: approvals are locked for ${seconds} more seconds`,
    { lockedUntil },
  );
}
