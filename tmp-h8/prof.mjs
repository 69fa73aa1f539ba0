import fs from 'node:fs';
const p = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map(n => [n.id, n]));
const self = new Map();
const dt = p.timeDeltas; const samples = p.samples;
const counts = new Map();
for (let i = 0; i < samples.length; i++) counts.set(samples[i], (counts.get(samples[i]) ?? 0) + (dt[i] ?? 0));
// parent map
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const total = [...counts.values()].reduce((a, b) => a + b, 0);
const selfBy = new Map(); const inclBy = new Map();
for (const [id, t] of counts) {
  const n = byId.get(id); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-1)[0]}:${n.callFrame.lineNumber}`;
  selfBy.set(k, (selfBy.get(k) ?? 0) + t);
  const seen = new Set(); let cur = id;
  while (cur !== undefined) { const m = byId.get(cur); const kk = `${m.callFrame.functionName || '(anon)'} ${m.callFrame.url.split('/').slice(-1)[0]}:${m.callFrame.lineNumber}`; if (!seen.has(kk)) { seen.add(kk); inclBy.set(kk, (inclBy.get(kk) ?? 0) + t); } cur = parent.get(cur); }
}
const filt = process.argv[3];
console.log('total ms', (total/1000).toFixed(0));
console.log('--- self');
for (const [k, t] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((100*t/total).toFixed(1).padStart(5), k);
console.log('--- inclusive');
for (const [k, t] of [...inclBy].sort((a, b) => b[1] - a[1]).filter(([k]) => !filt || k.includes(filt)).slice(0, 45)) console.log((100*t/total).toFixed(1).padStart(5), k);
