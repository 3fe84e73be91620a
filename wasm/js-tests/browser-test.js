// The built package in a real page: Debian's Chromium driven by
// playwright-core. A small server hosts the page and the package and relays
// /api/* to the emulator, adding the token on the server side (the page
// never sees it, and the daemon needs no CORS). Usage, from wasm/:
//   node js-tests/browser-test.js URL [TOKEN]
// Prints one summary line.
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [upstream, token = ''] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const page = '<!doctype html><meta charset="utf-8"><title>slicer-wasm test</title><p>ready</p>';

function serveFile(res, urlPath) {
  // Only the package and the test files are served.
  const rel = normalize(urlPath).replace(/^[/\\]+/, '');
  if (!(rel.startsWith('pkg-npm/') || rel.startsWith('js-tests/scenario.js')) || rel.includes('..')) {
    res.writeHead(404).end('not found');
    return;
  }
  const file = join(root, rel);
  if (!existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
  res.end(readFileSync(file));
}

function relay(req, res) {
  const target = new URL(req.url.slice('/api'.length) || '/', upstream);
  const headers = { ...req.headers, host: target.host };
  delete headers.authorization;
  if (token) headers.authorization = `Bearer ${token}`;
  const out = http.request(target, { method: req.method, headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  out.on('error', (e) => res.writeHead(502).end(String(e)));
  req.pipe(out);
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/api/')) relay(req, res);
  else if (req.url === '/' || req.url === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  else serveFile(res, new URL(req.url, 'http://x').pathname);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const profile = mkdtempSync(join(tmpdir(), 'slicer-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let passed = 0;
let failed = 0;
try {
  const tab = await context.newPage();
  const consoleErrors = [];
  tab.on('pageerror', (e) => consoleErrors.push(String(e)));
  await tab.goto(`${origin}/`);
  const results = await tab.evaluate(async () => {
    const out = [];
    const sdk = await import('/pkg-npm/browser.js');
    const { runScenario } = await import('/js-tests/scenario.js');
    const baseURL = `${location.origin}/api`;
    try {
      const steps = await runScenario(sdk, { baseURL });
      out.push({ name: 'scenario', ok: true, detail: steps.join(', ') });
    } catch (e) {
      out.push({ name: 'scenario', ok: false, detail: String(e && e.stack ? e.stack : e) });
    }
    try {
      await new sdk.SlicerClient({ baseURL }).vms.attach('sbox', 'sbox-999999').health();
      out.push({ name: 'SlicerAPIError', ok: false, detail: 'resolved' });
    } catch (e) {
      out.push({ name: 'SlicerAPIError', ok: e instanceof sdk.SlicerAPIError && e.status === 404, detail: String(e) });
    }
    const input = new DataTransfer();
    input.items.add(new File(['from a file input'], 'picked.txt'));
    const client = new sdk.SlicerClient({ baseURL });
    const vm = await client.vms.create('sbox', {}, { wait: 'agent' });
    try {
      await vm.fs.uploadFolder('/tmp/picked', input.files);
      const back = new TextDecoder().decode(await vm.fs.readFile('/tmp/picked/picked.txt'));
      out.push({ name: 'FileList upload', ok: back === 'from a file input', detail: back });
    } finally {
      await vm.delete();
    }
    return out;
  });
  for (const r of results) {
    if (r.ok) passed += 1;
    else failed += 1;
    console.log(`chromium: ${r.ok ? 'ok' : 'FAILED'} ${r.name}: ${r.detail}`);
  }
  if (consoleErrors.length > 0) {
    failed += 1;
    console.log(`chromium: FAILED page errors: ${consoleErrors.join('; ')}`);
  }
} catch (e) {
  failed += 1;
  console.log(`chromium: FAILED ${e && e.stack ? e.stack : e}`);
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`chromium: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
