const t = (name, n, f) => { const s = performance.now(); let x; for (let i = 0; i < n; i++) x = f(i); console.log(name.padEnd(20), ((performance.now() - s) * 1000 / n).toFixed(3), 'µs'); return x; };
const scratch = new Uint8Array(1024);
for (let r = 0; r < 3; r++) {
  for (const n of [32, 64, 65, 80, 339, 512, 1024]) t('alloc ' + n, 200000, () => new Uint8Array(n));
  t('slice 339 of scratch', 200000, () => scratch.slice(0, 339));
  t('Buffer.allocUnsafe 1024', 200000, () => Buffer.allocUnsafe(1024));
}
