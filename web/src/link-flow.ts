/**
 * The companion side of linking in the browser: open an anonymous linking
 * session with the page's server, hand each fresh link code to the screen
 * (the server's reference expires after 60 s, so the code is replaced while
 * the user waits), and once the primary approved, commit the new device —
 * identity key, prekeys and account record, all made here — to the profile.
 * The keys never leave this browser; only public keys go to the server.
 */
import {
  browserPlatform,
  ClientError,
  linkDevice,
  type DeviceStore,
  type Platform,
  type Transport,
} from '../../src/sdk/browser.js';

/** How long one linking attempt shows codes before it stops and offers a restart. */
export const LINK_ATTEMPT_MS = 10 * 60 * 1000;

/** The platform tag this app puts in its link codes. */
export const WEB_PLATFORM = 'web';

/** A running linking attempt. */
export interface CompanionLink {
  /** `linked` once stored; `cancelled` after `cancel`; rejects with the failure otherwise. */
  readonly done: Promise<'linked' | 'cancelled'>;
  /** Stops showing codes and closes the linking session. */
  cancel(): Promise<void>;
}

/** A short, non-identifying device name for the device list ("Chrome on Linux"). */
export function browserDeviceName(userAgent: string = navigator.userAgent): string {
  const browser = /Edg\//.test(userAgent)
    ? 'Edge'
    : /Firefox\//.test(userAgent)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(userAgent)
        ? 'Chrome'
        : /Safari\//.test(userAgent)
          ? 'Safari'
          : 'Browser';
  const system = /Windows/.test(userAgent)
    ? 'Windows'
    : /Android/.test(userAgent)
      ? 'Android'
      : /iPhone|iPad/.test(userAgent)
        ? 'iOS'
        : /Mac OS X/.test(userAgent)
          ? 'macOS'
          : /Linux/.test(userAgent)
            ? 'Linux'
            : '';
  return system === '' ? browser : `${browser} on ${system}`;
}

/** One link code to show (QR code plus text); replaced when its reference expires. */
export interface LinkCodeOffer {
  /** `quintet://link#…`: contains the linking secret; shown, never logged. */
  readonly text: string;
  /** When this code stops working, ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * Starts linking this (empty) profile as a companion. `onCode` gets the
 * first code and every refresh; it contains the linking secret, so it is
 * shown to the user and never logged.
 */
export function startCompanionLink(
  store: DeviceStore,
  serverUrl: string,
  onCode: (offer: LinkCodeOffer) => void,
): CompanionLink {
  let cancelled = false;
  const opened: Transport[] = [];
  // The SDK's platform, with each connection kept so `cancel` can close it.
  const platform: Platform = {
    ...browserPlatform,
    // The scheduler passes through: the SDK's timers stay the ones it chose.
    connect: async (server, schedule) => {
      const transport = await browserPlatform.connect(server, schedule);
      opened.push(transport);
      if (cancelled) await transport.close();
      return transport;
    },
  };
  const run = async (): Promise<'linked' | 'cancelled'> => {
    try {
      await linkDevice({
        // The approval is committed only if it verified and this was not cancelled.
        store: () => {
          if (cancelled) throw new ClientError('closed', 'linking was cancelled');
          return store;
        },
        platform,
        servers: serverUrl,
        deviceName: browserDeviceName(),
        platformTag: WEB_PLATFORM,
        timeoutMs: LINK_ATTEMPT_MS,
        onEvent: (event) => {
          if (event.type === 'link-code' && !cancelled) onCode(event);
        },
      });
    } catch (error) {
      // Cancelling closes the socket under the link, which then fails with
      // transport-closed: that is the cancel, not a failure.
      if (cancelled) return 'cancelled';
      throw error;
    }
    return 'linked';
  };
  return {
    done: run(),
    cancel: async () => {
      cancelled = true;
      await Promise.all(opened.map((transport) => transport.close()));
    },
  };
}
