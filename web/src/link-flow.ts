/**
 * The companion side of linking in the browser: open an anonymous linking
 * session with the page's server, hand each fresh link code to the screen
 * (the server's reference expires after 60 s, so the code is replaced while
 * the user waits), and once the primary approved, commit the new device —
 * identity key, prekeys and account record, all made here — to the profile.
 * The keys never leave this browser; only public keys go to the server.
 */
import { linkCompanion, storeLinkedDevice } from '../../src/client/core/linking/companion.js';
import type { LinkCodeOffer, LinkedDevice } from '../../src/client/core/linking/companion.js';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import { BrowserWsTransport } from '../../src/client/transport/browser-ws-transport.js';
import { browserContext } from './profile.js';

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
  let transport: BrowserWsTransport | undefined;
  const run = async (): Promise<'linked' | 'cancelled'> => {
    const opened = await BrowserWsTransport.connect(serverUrl);
    transport = opened;
    if (cancelled) {
      await opened.close();
      return 'cancelled';
    }
    let linked: LinkedDevice;
    try {
      linked = await linkCompanion(browserContext, opened, {
        serverUrl: location.origin,
        deviceName: browserDeviceName(),
        platform: WEB_PLATFORM,
        timeoutMs: LINK_ATTEMPT_MS,
        onCode: (offer) => {
          if (!cancelled) onCode(offer);
        },
      });
    } catch (error) {
      // Cancelling closes the socket under linkCompanion, which then fails
      // with transport-closed: that is the cancel, not a failure.
      if (cancelled) return 'cancelled';
      throw error;
    } finally {
      await opened.close();
    }
    if (cancelled) return 'cancelled';
    await storeLinkedDevice(store, linked);
    return 'linked';
  };
  return {
    done: run(),
    cancel: async () => {
      cancelled = true;
      await transport?.close();
    },
  };
}
