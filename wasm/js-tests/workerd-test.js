// Runs worker.js in workerd through miniflare: `node js-tests/workerd-test.js
// URL [TOKEN]`, run from wasm/. Prints one summary line.
import { Miniflare } from 'miniflare';
import { fileURLToPath } from 'node:url';

const [baseURL, token = ''] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const mf = new Miniflare({
  modules: true,
  modulesRoot: root,
  scriptPath: fileURLToPath(new URL('./worker.js', import.meta.url)),
  modulesRules: [
    { type: 'ESModule', include: ['**/*.js'] },
    { type: 'CompiledWasm', include: ['**/*.wasm'] },
  ],
  compatibilityDate: '2026-04-01',
  bindings: { SLICER_URL: baseURL, SLICER_TOKEN: token },
});
let passed = 0;
let failed = 0;
try {
  const res = await mf.dispatchFetch('http://worker.test/');
  const text = await res.text();
  let results;
  try {
    results = JSON.parse(text);
  } catch {
    results = [{ name: 'worker answer', ok: false, detail: text }];
  }
  for (const r of results) {
    if (r.ok) passed += 1;
    else failed += 1;
    console.log(`workerd: ${r.ok ? 'ok' : 'FAILED'} ${r.name}: ${r.detail}`);
  }
} finally {
  await mf.dispose();
}
console.log(`workerd: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
