/**
 * An echo bot on the Quintet client SDK: it replies to every text it
 * receives with the same text, in the same chat (a person, or a group).
 *
 *   node --import tsx examples/echo-bot/echo-bot.ts \
 *     --profile ./echo-profile --server http://127.0.0.1:8080 [--register echo]
 *
 * `--register NAME` creates the account on first start (the profile keeps
 * it: later starts just open it). It prints `ready <account>` once online,
 * one `echoed …` line per reply, and stops cleanly on SIGINT/SIGTERM. In
 * a project of your own, the import is the same: `quintet/client`.
 */
import { parseArgs } from 'node:util';
import {
  isAccountName,
  nodePlatform,
  openProfileStore,
  parseAccountName,
  parseGroupId,
  profileExists,
  QuintetDevice,
  registerDevice,
  type StoredMessage,
} from 'quintet/client';

const { values } = parseArgs({
  options: {
    profile: { type: 'string' },
    server: { type: 'string', default: 'http://127.0.0.1:8080' },
    register: { type: 'string' },
  },
});
const profile = values.profile;
if (profile === undefined) throw new Error('--profile <dir> is required');

// First start: make the account (this profile becomes its primary device).
if (!profileExists(profile) && values.register !== undefined) {
  const made = await registerDevice({
    store: () => openProfileStore(profile, { create: true }),
    platform: nodePlatform,
    servers: values.server,
    account: values.register,
    deviceName: 'echo-bot',
  });
  await made.store.close();
}

const device = await QuintetDevice.open({
  store: openProfileStore(profile),
  platform: nodePlatform,
});
const stop = (): void => void device.close();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

/** Sends `text` back where `message` came from. */
async function reply(message: StoredMessage): Promise<void> {
  const text = message.text;
  if (isAccountName(message.chat)) {
    await device.sendText(parseAccountName(message.chat), text);
  } else {
    await device.groups((groups) => groups.send(parseGroupId(message.chat), text));
  }
  process.stdout.write(`echoed ${JSON.stringify(text)} to ${message.chat}\n`);
}

for await (const event of device.events) {
  switch (event.type) {
    case 'connection':
      if (event.state === 'online') process.stdout.write(`ready ${device.account}\n`);
      if (event.state === 'stopped' && event.reason !== 'stopped') {
        process.stderr.write(`stopped: ${event.reason}\n`);
        process.exitCode = 1;
      }
      break;
    case 'message':
      // Our own messages (sent here or synced from our other devices) are not echoed.
      if (!event.message.outgoing && event.message.text !== '') {
        await reply(event.message).catch((error: unknown) => {
          const code = error instanceof Error && 'code' in error ? String(error.code) : 'unknown';
          process.stderr.write(`could not reply (${code})\n`);
        });
      }
      break;
    case 'account-key-changed':
      // A contact's key changed: nothing is sent to them until a person
      // compares the safety number. A bot must not accept it on its own.
      process.stderr.write(`warning: ${event.account}'s account key changed\n`);
      break;
    case 'error':
      process.stderr.write(`warning: ${event.code}\n`);
      break;
    default:
      break;
  }
}
await device.close();
