import { createPublicKey, createPrivateKey, randomBytes, diffieHellman, webcrypto, KeyObject, generateKeyPairSync } from 'node:crypto';
const t = (name, n, f) => { const s = performance.now(); for (let i = 0; i < n; i++) f(i); console.log(name, ((performance.now() - s) * 1000 / n).toFixed(1), 'µs'); };
const ta = async (name, n, f) => { const s = performance.now(); for (let i = 0; i < n; i++) await f(i); console.log(name, ((performance.now() - s) * 1000 / n).toFixed(1), 'µs'); };
const N = 2000;
const privs = Array.from({ length: N }, () => randomBytes(32));
const pubs = privs.map((d) => Buffer.from(createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: d.toString('base64url'), x: 'A'.repeat(43) }, format: 'jwk' })).export({ format: 'jwk' }).x, 'base64url'));
const spkiPrefix = Buffer.from('302a300506032b656e032100', 'hex');
const pkcs8Prefix = Buffer.from('302e020100300506032b656e04220420', 'hex');
for (let r = 0; r < 3; r++) {
  t('pub jwk', N, (i) => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: pubs[i].toString('base64url') }, format: 'jwk' }));
  t('pub spki der', N, (i) => createPublicKey({ key: Buffer.concat([spkiPrefix, pubs[i]]), format: 'der', type: 'spki' }));
  t('priv jwk', N, (i) => createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: privs[i].toString('base64url'), x: 'A'.repeat(43) }, format: 'jwk' }));
  t('priv pkcs8 der', N, (i) => createPrivateKey({ key: Buffer.concat([pkcs8Prefix, privs[i]]), format: 'der', type: 'pkcs8' }));
  await ta('pub webcrypto raw', N, async (i) => KeyObject.from(await webcrypto.subtle.importKey('raw', pubs[i], { name: 'X25519' }, true, [])));
  const pk = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: privs[0].toString('base64url'), x: 'A'.repeat(43) }, format: 'jwk' });
  const pubk = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: pubs[1].toString('base64url') }, format: 'jwk' });
  t('dh', N, () => diffieHellman({ privateKey: pk, publicKey: pubk }));
  t('export pub jwk', N, () => createPublicKey(pk).export({ format: 'jwk' }));
  t('export pub der', N, () => createPublicKey(pk).export({ format: 'der', type: 'spki' }));
  t('genkeypair', N, () => generateKeyPairSync('x25519'));
}
