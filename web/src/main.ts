/**
 * The browser app's entry point: claim the device for this tab, open the
 * encrypted profile, then show onboarding or the app. The server is the
 * page's own origin, so the app works wherever the server serves it.
 */
import { websocketUrlForOrigin } from '../../src/client/transport/browser-ws-transport.js';
import { App } from './app.js';
import { replaceChildren } from './dom.js';
import { Notices } from './notices.js';
import { openProfile } from './profile.js';
import { tryAcquireTabLock, waitForTabLock } from './tab-lock.js';
import { linkCompanionScreen } from './ui/link-companion.js';
import { onboardingScreen } from './ui/onboarding.js';
import { otherTabScreen } from './ui/other-tab.js';

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html lacks #${id}`);
  return el;
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
      new App(root, store, account, serverUrl, notices).start();
    };
    if ((await store.account.get()) !== undefined) {
      await startApp();
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
            replaceChildren(root, linkCompanionScreen({ onBack: showOnboarding })),
        }),
      );
    showOnboarding();
  } catch (error) {
    notices.error(error);
    throw error;
  }
}

void main();
