/**
 * A device's stored choice of post-quantum sessions, for applications that
 * keep it with the device (the CLI's `quintet settings post-quantum`). The
 * client itself takes the choice as its `postQuantum` option; this setting
 * is only where an application remembers it between runs.
 */
import type { SettingsStore } from './store/client-stores.js';

/** The settings-store entry: one byte, 1 on, 0 off; absent means on (the client's default). */
export const POST_QUANTUM_SETTING = 'post-quantum';

/** Whether this device was set to use post-quantum sessions. */
export async function postQuantumEnabled(settings: SettingsStore): Promise<boolean> {
  const value = await settings.get(POST_QUANTUM_SETTING);
  // Only an explicit "off" opts out: a profile from before the setting
  // existed, or that never changed it, gets the default.
  return value === undefined || value[0] !== 0;
}

/** Stores this device's choice of post-quantum sessions. */
export async function setPostQuantumEnabled(settings: SettingsStore, on: boolean): Promise<void> {
  await settings.put(POST_QUANTUM_SETTING, Uint8Array.of(on ? 1 : 0));
}
