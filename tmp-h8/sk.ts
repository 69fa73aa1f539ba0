import * as Signal from '@signalapp/libsignal-client';
import { createPublicKey, createPrivateKey, verify, sign, generateKeyPairSync, createHmac, createDecipheriv, webcrypto } from 'node:crypto';
import { groupDecrypt, groupEncrypt, createSenderKeyDistributionMessage, processSenderKeyDistributionMessage } from '../src/protocol/group-cipher.js';
import { QuintetDevice, quintetContext } from '../bench/quintet.js';
import { LibsignalDevice } from '../bench/libsignal-client.js';
import { SenderKeyMessage } from '../src/protocol/sender-key-messages.js';
const DIST = '6b0e8a52-1c3d-4e7f-9a2b-3c4d5e6f7081';
const PT = new Uint8Array(160).fill(0x61);
function t(name: string, n: number, f: () => void) {
  const s = performance.now(); for (let i = 0; i < n; i++) f(); const us = (performance.now() - s) * 1000 / n;
  console.log(name, us.toFixed(1), 'µs'); return us;
}
async function ta(name: string, n: number, f: (i: number) => Promise<unknown>) {
  const s = performance.now(); for (let i = 0; i < n; i++) await f(i); const us = (performance.now() - s) * 1000 / n;
  console.log(name, us.toFixed(1), 'µs'); return us;
}
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const msg = new Uint8Array(220).fill(3);
const sig = sign(null, msg, privateKey);
const jwk = publicKey.export({ format: 'jwk' });
const pkJwk = createPublicKey({ key: jwk, format: 'jwk' });
const pkDer = createPublicKey({ key: publicKey.export({ format: 'der', type: 'spki' }), format: 'der', type: 'spki' });
const wcKey = await webcrypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['verify']);
for (let r = 0; r < 3; r++) {
  t('verify jwk', 2000, () => verify(null, msg, pkJwk, sig));
  t('verify der', 2000, () => verify(null, msg, pkDer, sig));
  t('verify orig', 2000, () => verify(null, msg, publicKey, sig));
  t('sign', 2000, () => sign(null, msg, privateKey));
  await ta('webcrypto verify', 2000, () => webcrypto.subtle.verify({ name: 'Ed25519' }, wcKey, sig, msg));
  t('hmac', 10000, () => createHmac('sha256', msg.subarray(0, 32)).update(msg.subarray(0, 1)).digest());
}
// full decrypt
const qa = await QuintetDevice.create('alice', 1); const qb = await QuintetDevice.create('bob', 1);
const skdm = await createSenderKeyDistributionMessage(quintetContext, qa.senderKeys, qa.address, DIST);
await processSenderKeyDistributionMessage(quintetContext, qb.senderKeys, qa.address, skdm);
const la = new LibsignalDevice('alice', 1, 1001); const lb = new LibsignalDevice('bob', 1, 1002);
const lskdm = await Signal.SenderKeyDistributionMessage.create(la.address, DIST, la.senderKeys);
await Signal.processSenderKeyDistributionMessage(la.address, Signal.SenderKeyDistributionMessage.deserialize(lskdm.serialize()), lb.senderKeys);
const N = 3000;
const qm: Uint8Array[] = []; const lm: Uint8Array<ArrayBuffer>[] = [];
for (let i = 0; i < N * 3; i++) { qm.push(await groupEncrypt(quintetContext, qa.senderKeys, qa.address, DIST, PT)); lm.push((await Signal.groupEncrypt(la.address, DIST, la.senderKeys, PT)).serialize()); }
let qi = 0, li = 0;
for (let r = 0; r < 3; r++) {
  await ta('Q groupDecrypt', N, async () => groupDecrypt(quintetContext, qb.senderKeys, qa.address, qm[qi++]!));
  await ta('L groupDecrypt', N, async () => Signal.groupDecrypt(la.address, lb.senderKeys, lm[li++]!));
  await ta('Q groupEncrypt', N, async () => groupEncrypt(quintetContext, qa.senderKeys, qa.address, DIST, PT));
  await ta('L groupEncrypt', N, async () => Signal.groupEncrypt(la.address, DIST, la.senderKeys, PT));
  t('verify jwk', 2000, () => verify(null, msg, pkJwk, sig));
  t('SKM deserialize', 5000, () => SenderKeyMessage.deserialize(qm[0]!));
}
