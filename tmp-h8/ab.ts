import { QuintetDevice } from '../bench/quintet.js';
import { LibsignalDevice } from '../bench/libsignal-client.js';
const PT = new Uint8Array(160).fill(0x61);
const alice = await QuintetDevice.create('alice', 1); const bob = await QuintetDevice.create('bob', 1);
await alice.processBundle(bob.address, await bob.bundle());
await bob.decrypt(alice.address, await alice.encrypt(bob.address, PT));
await alice.decrypt(bob.address, await bob.encrypt(alice.address, PT));
const la = new LibsignalDevice('alice', 1, 1001); const lb = new LibsignalDevice('bob', 1, 1002);
await la.processBundle(lb.address, await lb.bundle());
await lb.decrypt(la.address, await la.encrypt(lb.address, PT));
await la.decrypt(lb.address, await lb.encrypt(la.address, PT));
const K = 1000, R = 15;
const res: Record<string, number[]> = { qe: [], qd: [], le: [], ld: [] };
for (let r = 0; r < R; r++) {
  const qm = []; for (let i = 0; i < K; i++) qm.push(await alice.encrypt(bob.address, PT));
  const lm = []; for (let i = 0; i < K; i++) lm.push(await la.encrypt(lb.address, PT));
  let s = performance.now(); for (let i = 0; i < K; i++) await alice.encrypt(bob.address, PT); res.qe!.push((performance.now() - s) * 1000 / K);
  s = performance.now(); for (let i = 0; i < K; i++) await la.encrypt(lb.address, PT); res.le!.push((performance.now() - s) * 1000 / K);
  s = performance.now(); for (const m of qm) await bob.decrypt(alice.address, m); res.qd!.push((performance.now() - s) * 1000 / K);
  s = performance.now(); for (const m of lm) await lb.decrypt(la.address, m); res.ld!.push((performance.now() - s) * 1000 / K);
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
console.log(Object.fromEntries(Object.entries(res).map(([k, v]) => [k, med(v).toFixed(1)])));
