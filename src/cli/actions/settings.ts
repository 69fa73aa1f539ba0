/** The bodies of `quintet settings ...` (commands/settings.ts defines them). */
import {
  postQuantumEnabled,
  setPostQuantumEnabled,
  setTypingEnabled,
  typingEnabled,
  type DeviceStore,
} from '../../sdk/index.js';
import type { SettingsOptions } from '../commands/settings.js';
import { openProfileStore, profileDir } from '../profile.js';
import type { SessionContext } from '../session.js';

/** One on/off setting: its name in JSON, its label, and how it is read and written. */
interface OnOffSetting {
  readonly name: string;
  readonly label: string;
  get(store: DeviceStore): Promise<boolean>;
  set(store: DeviceStore, on: boolean): Promise<void>;
}

/** Sets `setting` (when `value` is given), then prints it. */
async function onOffSetting(
  setting: OnOffSetting,
  value: boolean | undefined,
  options: SettingsOptions,
  context: SessionContext,
): Promise<void> {
  const dir = profileDir(options.profile);
  context.profile = dir;
  const store = openProfileStore(dir);
  try {
    // A profile without an account refuses here (not-registered), like every command.
    await store.account.getRequired();
    if (value !== undefined) await setting.set(store, value);
    const on = await setting.get(store);
    process.stdout.write(
      options.json === true
        ? `${JSON.stringify({ setting: setting.name, on })}\n`
        : `${setting.label}: ${on ? 'on' : 'off'}\n`,
    );
  } finally {
    await store.close();
  }
}

/** Sets typing indicators on or off (when `value` is given), then prints the setting. */
export function typingSetting(
  value: boolean | undefined,
  options: SettingsOptions,
  context: SessionContext,
): Promise<void> {
  return onOffSetting(
    {
      name: 'typing',
      label: 'typing indicators',
      get: (store) => typingEnabled(store.settings),
      set: (store, on) => setTypingEnabled(store.settings, on),
    },
    value,
    options,
    context,
  );
}

/**
 * Sets post-quantum sessions on or off (when `value` is given), then prints
 * the setting (on unless the profile opted out). Takes effect from the
 * device's next start: on, KEM prekeys are published (if they were not
 * yet) and new sessions with devices that publish them are v4; off, new
 * sessions are v3. Open sessions stay as they are either way.
 */
export function postQuantumSetting(
  value: boolean | undefined,
  options: SettingsOptions,
  context: SessionContext,
): Promise<void> {
  return onOffSetting(
    {
      name: 'post-quantum',
      label: 'post-quantum sessions',
      get: (store) => postQuantumEnabled(store.settings),
      set: (store, on) => setPostQuantumEnabled(store.settings, on),
    },
    value,
    options,
    context,
  );
}
