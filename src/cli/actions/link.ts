/** The body of `quintet link` (commands/link.ts defines the command). */
import QRCode from 'qrcode';
import { linkDevice, nodePlatform, setPostQuantumEnabled } from '../../sdk/index.js';
import { CliError } from '../cli-error.js';
import type { LinkOptions } from '../commands/link.js';
import { explainLinkingFailure } from '../commands/device-errors.js';
import { awaitLinkHistory } from '../commands/link-history.js';
import { removeProfileDatabase } from '../commands/logged-out.js';
import { createProfileStore, DEFAULT_SERVER_URL, profileDir, profileExists } from '../profile.js';
import type { SessionContext } from '../session.js';
import { terminalText } from '../terminal-text.js';

async function showCode(offer: { text: string; expiresAt: number }): Promise<void> {
  const qr = await QRCode.toString(offer.text, { type: 'terminal', small: true });
  const left = Math.max(1, Math.round((offer.expiresAt - Date.now()) / 1000));
  process.stdout.write(
    `${qr}\nlink code: ${offer.text}\n` +
      `On the primary device run: quintet devices approve '<link code>'  (this code expires in ${left}s)\n`,
  );
}

/**
 * A profile may be linked when it is new, or when its device was logged
 * out (it then holds only the logged-out mark, which is replaced).
 */
async function checkProfileFree(dir: string): Promise<boolean> {
  if (!profileExists(dir)) return false;
  const store = createProfileStore(dir);
  const existing = await store.account.get().finally(() => store.close());
  if (existing === undefined) return false;
  if (existing.loggedOut === undefined) {
    throw new CliError(`profile ${dir} already holds the account "${existing.account}"`);
  }
  return true;
}

/** Links this new profile as a companion, then waits for account state and history. */
export async function link(options: LinkOptions, context: SessionContext): Promise<void> {
  const dir = profileDir(options.profile);
  context.profile = dir;
  const serverUrl = options.server ?? DEFAULT_SERVER_URL;
  context.server = serverUrl;
  const replacesLoggedOut = await checkProfileFree(dir);
  // The hand-off happens on one connection; the whole list is stored.
  // The profile is written only once the approval verified.
  let linked;
  try {
    linked = await linkDevice({
      store: () => {
        if (replacesLoggedOut) removeProfileDatabase(dir);
        return createProfileStore(dir);
      },
      platform: nodePlatform,
      servers: serverUrl,
      deviceName: options.name ?? 'quintet-cli',
      platformTag: 'cli',
      timeoutMs: options.timeout * 1000,
      postQuantum: options.postQuantum,
      onEvent: (event) => (event.type === 'link-code' ? showCode(event) : undefined),
    });
  } catch (error) {
    throw explainLinkingFailure(error);
  }
  try {
    // Opted out: every later start of this profile stays v3 too.
    if (!options.postQuantum) await setPostQuantumEnabled(linked.store.settings, false);
  } finally {
    await linked.store.close();
  }
  process.stdout.write(
    `linked: ${terminalText(linked.account)} device ${linked.deviceId}; profile ${dir}\n`,
  );
  if (options.history) {
    await awaitLinkHistory(
      { profile: dir, server: serverUrl },
      context,
      options.historyWait * 1000,
    );
  }
}
