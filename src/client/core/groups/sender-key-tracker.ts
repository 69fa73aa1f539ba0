/**
 * Which member devices need this device's sender key, and when the key must
 * be replaced. Pure: it compares the devices that hold the current key (as
 * persisted in group-store.ts) with the devices that are members now.
 *
 * The rotation rule covers every departure with one check: if some device
 * that holds the current key is not a current member device any more — its
 * account left or was removed, the device was unlinked, or it was
 * reinstalled (new registration id) — the key must be dropped and a new
 * chain distributed. Otherwise the departed device could keep decrypting
 * every later message, since a Sender Keys chain only ratchets forward.
 * Checked before every send, it also catches departures this device heard
 * about only through the server refusing a send's device set.
 */
import { deviceKey, type KeyHolder } from './group-store.js';

/** A current member device a group message goes to. */
export interface MemberDevice {
  readonly account: string;
  readonly deviceId: number;
  readonly registrationId: number;
}

/** What a send must do about its sender key. */
export interface KeyPlan {
  /** Drop the current chain (and every holder) before sending. */
  readonly rotate: boolean;
  /** The devices that get a distribution message with this send. */
  readonly needKey: readonly MemberDevice[];
}

/** Plans a send to `devices` (O(n) in devices + holders). */
export function planSenderKey(
  devices: readonly MemberDevice[],
  holders: ReadonlyMap<string, KeyHolder>,
): KeyPlan {
  const current = new Map<string, MemberDevice>();
  for (const device of devices) current.set(deviceKey(device.account, device.deviceId), device);
  let rotate = false;
  for (const [key, holder] of holders) {
    const now = current.get(key);
    if (now === undefined || now.registrationId !== holder.registrationId) {
      rotate = true;
      break;
    }
  }
  if (rotate) return { rotate, needKey: devices };
  const needKey = devices.filter(
    (device) => !holders.has(deviceKey(device.account, device.deviceId)),
  );
  return { rotate, needKey };
}
