/**
 * The browser app's entry point: claim the device for this tab, open the
 * encrypted profile, then show onboarding (register as primary, or link as
 * a companion) or the app. The server is the page's own origin, so the app
 * works wherever the server serves it.
 */
import { type DeviceStore, websocketUrlForOrigin } from '../../src/sdk/browser.js';
import { App } from './app.js';
import { replaceChildren } from './dom.js';
import { Notices } from './notices.js';
import { openProfile, wipeProfile } from './profile.js';
import { tryAcquireTabLock, waitForTabLock } from './tab-lock.js';
import { linkCompanionScreen } from './ui/link-companion.js';
import { loggedOutScreen } from './ui/logged-out.js';
import { onboardingScreen } from './ui/onboarding.js';
import { otherTabScreen } from './ui/other-tab.js';

/**
 * Session-storage key of the last logout (account and reason, nothing
 * secret), so a reload right after it still says what happened.
 */
const LOGGED_OUT_NOTE = 'quintet-logged-out';

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html lacks #${id}`);
  return el;
}

/** The note left by the last logout in this tab, if any. */
function loggedOutNote(): { account: string; reason: string } | undefined {
  const text = sessionStorage.getItem(LOGGED_OUT_NOTE);
  if (text === null) return undefined;
  const [account, reason] = text.split('\n');
  return account === undefined || reason === undefined ? undefined : { account, reason };
}

/** Wipes the removed device and shows why. */
async function showLoggedOut(
  root: HTMLElement,
  store: DeviceStore,
  account: string,
  reason: string,
): Promise<void> {
  await wipeProfile(store);
  sessionStorage.setItem(LOGGED_OUT_NOTE, `${account}\n${reason}`);
  replaceChildren(
    root,
    loggedOutScreen(account, reason, () => clearNoteAndReload()),
  );
}

function clearNoteAndReload(): void {
  sessionStorage.removeItem(LOGGED_OUT_NOTE);
  location.reload();
}

async function main(): Promise<void> {
  const root = element('app');
  const notices = new Notices(element('notices'));
  try {
    if (!(await tryAcquireTabLock())) {
      replaceChildren(root, otherTabScreen());
      await waitForTabLock();
    }
    const store = await openProfile();
    const serverUrl = websocketUrlForOrigin(location.origin);
    const startApp = async (): Promise<void> => {
      const account = await store.account.getRequired();
      sessionStorage.removeItem(LOGGED_OUT_NOTE);
      new App(root, store, account, serverUrl, notices, (reason) =>
        showLoggedOut(root, store, account.account, reason),
      ).start();
    };
    const existing = await store.account.get();
    if (existing?.loggedOut !== undefined) {
      // A profile only marked logged out (never kept by this app, but possible
      // if a wipe was interrupted): finish the wipe.
      await showLoggedOut(root, store, existing.account, existing.loggedOut.reason);
      return;
    }
    if (existing !== undefined) {
      await startApp();
      return;
    }
    const note = loggedOutNote();
    if (note !== undefined) {
      replaceChildren(root, loggedOutScreen(note.account, note.reason, clearNoteAndReload));
      return;
    }
    const showOnboarding = (): void =>
      replaceChildren(
        root,
        onboardingScreen({
          store,
          serverUrl,
          notices,
          onRegistered: () => void startApp().catch((error: unknown) => notices.error(error)),
          onLinkCompanion: () =>
            replaceChildren(
              root,
              linkCompanionScreen({
                store,
                serverUrl,
                notices,
                onLinked: () => void startApp().catch((error: unknown) => notices.error(error)),
                onBack: showOnboarding,
              }),
            ),
        }),
      );
    showOnboarding();
  } catch (error) {
    notices.error(error);
    throw error;
  }
}

void main();
