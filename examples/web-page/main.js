// A minimal page on the Quintet SDK's browser build: register an account
// in this browser (keys in IndexedDB, sealed with a non-extractable key),
// show the messages it receives, and send text. quintet-client.js is the
// bundle `npm run build` writes to dist/browser/ (copy it next to this
// file); with a bundler, import from 'quintet/client/browser' instead.
import {
  browserPlatform,
  errorCode,
  openBrowserStore,
  parseAccountName,
  QuintetDevice,
  registerDevice,
  websocketUrlForOrigin,
} from './quintet-client.js';

const server = websocketUrlForOrigin(location.origin);
const status = document.getElementById('status');
const registerForm = document.getElementById('register');
const sendForm = document.getElementById('send');
const messages = document.getElementById('messages');

/** Shows a line of text (textContent: peers' text is never HTML). */
function show(list, text) {
  const item = document.createElement('li');
  item.textContent = text;
  list.append(item);
}

function fail(error) {
  status.textContent = `error: ${errorCode(error)}`;
}

async function run(store) {
  const device = await QuintetDevice.open({ store, platform: browserPlatform, servers: server });
  sendForm.hidden = false;
  sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(sendForm);
    const text = String(data.get('text'));
    try {
      const to = parseAccountName(String(data.get('to')));
      device.sendText(to, text).then(() => show(messages, `me → ${to}: ${text}`), fail);
    } catch (error) {
      fail(error);
    }
  });
  for await (const event of device.events) {
    if (event.type === 'connection') status.textContent = `${event.state} as ${device.account}`;
    if (event.type === 'message' && !event.message.outgoing) {
      show(messages, `${event.message.sender}: ${event.message.text}`);
    }
  }
}

async function main() {
  const store = await openBrowserStore('quintet-sdk-example');
  if ((await store.account.get()) !== undefined) return run(store);
  status.textContent = 'not registered';
  registerForm.hidden = false;
  registerForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const account = String(new FormData(registerForm).get('account'));
    status.textContent = 'creating keys…';
    registerDevice({ store, platform: browserPlatform, servers: server, account }).then(() => {
      registerForm.hidden = true;
      return run(store);
    }, fail);
  });
}

main().catch(fail);
