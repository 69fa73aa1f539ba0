/** Encoders of the multi-device pushes (LinkApproved, DeviceListChanged, LoggedOut). */
import { encodeFrame, pushFrame } from '../../wire/frame.js';

/** What the waiting companion learns when its link is approved. */
export interface LinkApprovedFields {
  readonly account: string;
  readonly deviceId: number;
  /** The primary's `ADVSignedDeviceIdentityHMAC`, relayed untouched. */
  readonly payload: Uint8Array;
  readonly linkToken: Uint8Array;
  readonly keyIndex: number;
}

/** The encoded `Push.link_approved` frame. */
export function linkApprovedPush(fields: LinkApprovedFields): Uint8Array {
  return encodeFrame(pushFrame({ case: 'linkApproved', value: { ...fields } }));
}

/** The encoded `Push.device_list_changed` frame for `account`. */
export function deviceListChangedPush(account: string): Uint8Array {
  return encodeFrame(pushFrame({ case: 'deviceListChanged', value: { account } }));
}

/** The encoded `Push.logged_out` frame. */
export function loggedOutPush(reason: string): Uint8Array {
  return encodeFrame(pushFrame({ case: 'loggedOut', value: { reason } }));
}
