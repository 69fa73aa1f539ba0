/**
 * The post-quantum setting of this device, shown in the devices pane beside
 * the typing toggle. Kept in the sealed store like the other device
 * settings (the same `post-quantum` entry the CLI uses): on by default, off
 * opts this device out of new v4 (PQXDH + SPQR) sessions. It is read when
 * the connection opens, so a change applies from the next page load; open
 * sessions stay as they are either way.
 */
import { settingToggle } from './setting-toggle.js';

/** Reading and changing the setting; each rejects with the failure (the app shows it). */
export interface PostQuantumSettingHandlers {
  readonly postQuantumEnabled: () => Promise<boolean>;
  readonly setPostQuantumEnabled: (on: boolean) => Promise<void>;
}

/** The "Post-quantum sessions" checkbox, disabled until the current value is read. */
export function postQuantumSetting(handlers: PostQuantumSettingHandlers): HTMLElement {
  return settingToggle({
    heading: 'Security',
    label: 'Post-quantum sessions',
    hint:
      'On: new sessions with devices that support it use PQXDH and the post-quantum ratchet. ' +
      'A change applies when this page next connects (reload it); open sessions are kept.',
    testid: 'post-quantum-toggle',
    read: () => handlers.postQuantumEnabled(),
    write: (on) => handlers.setPostQuantumEnabled(on),
  });
}
