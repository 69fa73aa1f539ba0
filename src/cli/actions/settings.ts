/** The body of `quintet settings typing` (commands/settings.ts defines it). */
import { setTypingEnabled, typingEnabled } from '../../sdk/index.js';
import type { SettingsOptions } from '../commands/settings.js';
import { openProfileStore, profileDir } from '../profile.js';
import type { SessionContext } from '../session.js';

/** Sets typing indicators on or off (when `value` is given), then prints the setting. */
export async function typingSetting(
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
    if (value !== undefined) await setTypingEnabled(store.settings, value);
    const on = await typingEnabled(store.settings);
    process.stdout.write(
      options.json === true
        ? `${JSON.stringify({ setting: 'typing', on })}\n`
        : `typing indicators: ${on ? 'on' : 'off'}\n`,
    );
  } finally {
    await store.close();
  }
}
