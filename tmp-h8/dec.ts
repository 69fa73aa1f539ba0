import { createHmac, createDecipheriv, hash } from 'node:crypto';
import { QuintetDevice } from '../bench/quintet.js';
import { SessionRecord } from '../src/protocol/session-record.js';
import { SignalMessage } from '../src/protocol/signal-message.js';
import { PublicKey } from '../src/protocol/curve.js';
import { nodeCrypto } from '../src/crypto/node.js';
const PT = new Uint8Array(160).fill(0x61);
function t(name: string, n: number, f: () => unknown) {
  const s = performance.now(); for (let i = 0; i < n; i++) f(); const us = (performance.now() - s) * 1000 / n;
  console.log(name.padEnd(24), us.toFixed(2), 'µs'); return us;
}
async function ta(name: string, n: number, f: (i: number) => Promise<unknown>) {
  const s = performance.now(); for (let i = 0; i < n; i++) await f(i); const us = (performance.now() - s) * 1000 / n;
  console.log(name.padEnd(24), us.toFixed(2), 'µs'); return us;
}
const alice = await QuintetDevice.create('alice', 1); const bob = await QuintetDevice.create('bob', 1);
await alice.processBundle(bob.address, await bob.bundle());
await bob.decrypt(alice.address, await alice.encrypt(bob.address, PT));
await alice.decrypt(bob.address, await bob.encrypt(alice.address, PT));
const N = 5000;
const msgs = []; for (let i = 0; i < N * 4; i++) msgs.push(await alice.encrypt(bob.address, PT));
const rec = (await bob.stores.sessions.loadSession(alice.address))!;
const bytes = rec.serialize();
console.log('record bytes', bytes.length);
const key = new Uint8Array(32).fill(7); const data = new Uint8Array(100).fill(1);
let k = 0;
for (let r = 0; r < 3; r++) {
  await ta('Q decrypt', N, async () => bob.decrypt(alice.address, msgs[k++]!));
  await ta('Q encrypt', N, async () => alice.encrypt(bob.address, PT));
  t('record deserialize', N, () => SessionRecord.deserialize(bytes));
  t('record serialize', N, () => rec.serialize());
  t('msg deserialize', N, () => SignalMessage.deserialize(msgs[0]!.body));
  t('pubkey deserialize', N, () => PublicKey.deserialize(rec.current!.remoteIdentityKey));
  t('createHmac', N, () => createHmac('sha256', key).update(data).digest());
  t('2x hash', N, () => { hash('sha256', data, 'buffer'); hash('sha256', data, 'buffer'); });
  await ta('provider hmac', N, () => nodeCrypto.hmacSha256(key, data));
  await ta('provider hkdf80', N, () => nodeCrypto.hkdfSha256(key, new Uint8Array(0), data.subarray(0, 18), 80));
  await ta('provider aesdec', N, () => nodeCrypto.aes256CbcDecrypt(key, key.subarray(0, 16), msgs[0]!.body.subarray(0, 176)).catch(() => 0));
  await ta('empty await', N, async () => 0);
}
