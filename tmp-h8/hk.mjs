import { createHmac, hkdfSync, createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
const t = (name, n, f) => { const s = performance.now(); for (let i = 0; i < n; i++) f(i); console.log(name.padEnd(20), ((performance.now() - s) * 1000 / n).toFixed(2), 'µs'); };
const key = randomBytes(32), iv = randomBytes(16), info = Buffer.from('WhisperMessageKeys'); const ZERO = new Uint8Array(32);
const c = createCipheriv('aes-256-cbc', key, iv); const ct = Buffer.concat([c.update(new Uint8Array(160)), c.final()]);
function hkdfCur(ikm, length) {
  const prk = createHmac('sha256', ZERO).update(ikm).digest();
  const out = new Uint8Array(length); let block = new Uint8Array(0);
  for (let offset = 0, counter = 1; offset < length; counter++) {
    block = createHmac('sha256', prk).update(block).update(info).update(new Uint8Array([counter])).digest();
    out.set(block.subarray(0, Math.min(block.length, length - offset)), offset); offset += block.length;
  }
  return out;
}
function hkdfOne(ikm, length) {
  const prk = createHmac('sha256', ZERO).update(ikm).digest();
  const out = new Uint8Array(length);
  const input = new Uint8Array(32 + info.length + 1);
  let start = 32; let prevLen = 0;
  input.set(info, 32);
  for (let offset = 0, counter = 1; offset < length; counter++) {
    input[32 + info.length] = counter;
    const block = createHmac('sha256', prk).update(input.subarray(counter === 1 ? 32 : 0)).digest();
    out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    input.set(block, 0);
    offset += 32;
  }
  return out;
}
console.log(Buffer.from(hkdfCur(key, 80)).equals(Buffer.from(hkdfOne(key, 80))), Buffer.from(hkdfSync('sha256', key, ZERO, info, 80)).equals(Buffer.from(hkdfCur(key,80))));
for (let r = 0; r < 3; r++) {
  t('hkdf cur', 20000, () => hkdfCur(key, 80));
  t('hkdf one-update', 20000, () => hkdfOne(key, 80));
  t('hkdfSync', 20000, () => hkdfSync('sha256', key, ZERO, info, 80));
  t('aes dec', 20000, () => { const d = createDecipheriv('aes-256-cbc', key, iv); return Buffer.concat([d.update(ct), d.final()]); });
  t('aes enc', 20000, () => { const d = createCipheriv('aes-256-cbc', key, iv); return Buffer.concat([d.update(new Uint8Array(160)), d.final()]); });
  t('hmac 1upd', 20000, () => createHmac('sha256', key).update(ct).digest());
  t('hmac 3upd', 20000, () => createHmac('sha256', key).update(ct).update(info).update(iv).digest());
}
