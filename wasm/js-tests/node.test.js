// The built package (wasm/pkg-npm) from plain JavaScript under Node's test
// runner, against the emulator named by SLICER_URL / SLICER_TOKEN (started
// by wasm/run-js-tests.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as sdk from '../pkg-npm/node.js';
import { runScenario } from './scenario.js';

const {
  SlicerClient, SlicerAPIError, SecretExistsError, VM, VMFileSystem, VMBg, HostGroupsAPI,
  VMsAPI, SecretsAPI, GiB, MiB, ExecStdioText, ExecStdioBase64, NonRootUser, resolveTransport,
} = sdk;

const baseURL = process.env.SLICER_URL;
const token = process.env.SLICER_TOKEN;
if (!baseURL) throw new Error('SLICER_URL must name the emulator (run wasm/run-js-tests.sh)');

const client = new SlicerClient({ baseURL, token });
let vm;

before(async () => {
  vm = await client.vms.create('sbox', { tags: ['node-test'] }, { wait: 'agent' });
});

after(async () => {
  if (vm) await vm.delete();
});

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

test('the package exports the official names', () => {
  for (const cls of [SlicerClient, VM, VMFileSystem, VMBg, HostGroupsAPI, VMsAPI, SecretsAPI]) {
    assert.equal(typeof cls, 'function');
  }
  assert.equal(GiB(2), 2 * 2 ** 30);
  assert.equal(MiB(3), 3 * 2 ** 20);
  assert.equal(ExecStdioText, 'text');
  assert.equal(ExecStdioBase64, 'base64');
  assert.equal(NonRootUser, 0xffffffff);
  const pkg = JSON.parse(readFileSync(new URL('../pkg-npm/package.json', import.meta.url)));
  const entry = pkg.exports['.'];
  assert.deepEqual(Object.keys(entry), ['types', 'workerd', 'worker', 'deno', 'node', 'browser', 'default']);
  assert.equal(entry.node, './node.js');
});

test('resolveTransport and the constructor classify base URLs', () => {
  assert.deepEqual(resolveTransport('/var/run/slicer/api.sock'), {
    kind: 'socket',
    socketPath: '/var/run/slicer/api.sock',
  });
  assert.deepEqual(resolveTransport('unix:///srv/slicer.sock'), { kind: 'socket', socketPath: '/srv/slicer.sock' });
  const net = resolveTransport('http://127.0.0.1:8080');
  assert.equal(net.kind, 'net');
  assert.ok(net.url instanceof URL);
  assert.equal(net.url.port, '8080');
  assert.throws(() => resolveTransport('  '), /required/);
  assert.throws(() => new SlicerClient({ baseURL: '~/slicer.sock' }), /UNIX sockets are not available/);
  assert.throws(() => new SlicerClient({ baseURL: '' }), /baseURL is required/);
  assert.throws(() => new SlicerClient({ baseURL: 'ftp://x' }), TypeError);
});

test('a socket base URL works through a caller-supplied fetch', async () => {
  const seen = [];
  const relay = (url, init) => {
    seen.push(url);
    return fetch(url.replace('http://localhost', baseURL), init);
  };
  const c = new SlicerClient({ baseURL: '/run/slicer.sock', token, fetch: relay });
  const info = await c.getInfo();
  assert.equal(typeof info.version, 'string');
  assert.deepEqual(seen, ['http://localhost/info']);
});

test('fromEnv reads SLICER_URL and SLICER_TOKEN', async () => {
  const c = SlicerClient.fromEnv();
  assert.ok((await c.getInfo()).version);
  const saved = process.env.SLICER_URL;
  delete process.env.SLICER_URL;
  try {
    assert.throws(() => SlicerClient.fromEnv(), /SLICER_URL/);
  } finally {
    process.env.SLICER_URL = saved;
  }
});

test('control plane: info, host groups, VM listing and stats', async () => {
  const info = await client.getInfo();
  assert.ok('git_commit' in info, 'getInfo is raw');
  const groups = await client.hostGroups.list();
  assert.ok(groups.some((g) => g.name === 'sbox' && g.ramBytes > 0 && g.cpus > 0));
  assert.equal((await client.hostGroups.find('sbox')).name, 'sbox');
  assert.equal(await client.hostGroups.find('no-such-group'), undefined);
  const inGroup = await client.hostGroups.listVMs('sbox', { tag: 'node-test' });
  assert.deepEqual(inGroup.map((n) => n.hostname), [vm.hostname]);
  const listed = await client.vms.list({ tagPrefix: 'node-' });
  assert.equal(listed.length, 1);
  assert.equal(listed[0].hostGroup, 'sbox');
  assert.deepEqual(listed[0].tags, ['node-test']);
  assert.ok(!('persistent' in listed[0]), 'absent keys are omitted');
  const got = await client.vms.get(vm.hostname);
  assert.ok(got instanceof VM);
  assert.equal(got.hostGroup, 'sbox');
  assert.equal(await client.vms.get('sbox-999999'), undefined);
  const stats = await client.vms.stats();
  assert.ok(stats.some((s) => s.hostname === vm.hostname));
  const raw = await client.vms.createRaw('sbox', { cpus: 1 });
  assert.equal(typeof raw.hostname, 'string');
  await client.vms.attach('sbox', raw.hostname).delete();
});

test('VM lifecycle: health, logs, pause and resume, waits', async () => {
  const health = await vm.health();
  assert.equal(health.hostname, vm.hostname);
  assert.equal(typeof health.agentUptime, 'number');
  assert.equal((await vm.waitForAgent()).hostname, vm.hostname);
  assert.equal((await vm.waitForUserdata({ timeoutMs: 10000 })).userdataRan, true);
  const logs = await vm.logs();
  assert.equal(logs.hostname, vm.hostname);
  await vm.pause();
  await assert.rejects(vm.execBuffered({ command: '/bin/true' }), (e) => e instanceof SlicerAPIError && e.status === 409);
  await vm.resume();
  assert.equal((await vm.execBuffered({ command: '/bin/true' })).exitCode, 0);
  await assert.rejects(vm.forward('8080:127.0.0.1:80'), /not supported in this runtime/);
});

test('errors are the exported classes', async () => {
  const missing = client.vms.attach('sbox', 'sbox-999999');
  await assert.rejects(missing.health(), (e) => {
    assert.ok(e instanceof SlicerAPIError);
    assert.equal(e.name, 'SlicerAPIError');
    assert.equal(e.status, 404);
    assert.equal(e.method, 'GET');
    assert.equal(e.path, '/vm/sbox-999999/health');
    assert.match(e.body, /not found/);
    return true;
  });
  const bad = new SlicerClient({ baseURL, token: 'wrong-token' });
  if (token) await assert.rejects(bad.getInfo(), (e) => e instanceof SlicerAPIError && e.status === 401);
  await assert.rejects(vm.execBuffered({ command: '/bin/cat', stdin: 'x' }), /stdin/);
  await assert.rejects(vm.execBuffered({ command: '/bin/true', stdio: 'hex' }), TypeError);
});

test('secrets: create, conflict, list, patch, delete', async () => {
  const name = `node-secret-${process.pid}`;
  await client.secrets.create({ name, data: 'hunter2', permissions: '0600' });
  await assert.rejects(client.secrets.create({ name, data: 'x' }), (e) => {
    assert.ok(e instanceof SecretExistsError);
    assert.equal(e.name, 'SecretExistsError');
    return true;
  });
  let listed = (await client.secrets.list()).find((s) => s.name === name);
  assert.equal(listed.size, 7);
  await client.secrets.patch(name, { data: new Uint8Array([1, 2, 3]) });
  listed = (await client.secrets.list()).find((s) => s.name === name);
  assert.equal(listed.size, 3);
  await client.secrets.delete(name);
  assert.ok(!(await client.secrets.list()).some((s) => s.name === name));
});

test('all 256 byte values survive writeFile/readFile and base64 exec', async () => {
  await vm.fs.writeFile('/tmp/bytes.bin', allBytes, { permissions: '0640' });
  const back = await vm.fs.readFile('/tmp/bytes.bin');
  assert.ok(back instanceof Uint8Array);
  assert.deepEqual(Uint8Array.from(back), allBytes);
  const res = await vm.execBuffered({ command: '/bin/cat', args: ['/tmp/bytes.bin'], stdio: 'base64' });
  assert.equal(res.encoding, 'base64');
  assert.deepEqual(Uint8Array.from(res.stdout), allBytes);
  const chunks = [];
  for await (const f of vm.exec({ command: '/bin/cat', args: ['/tmp/bytes.bin'], stdio: ExecStdioBase64 })) {
    if (f.type === 'stdout') chunks.push(...(f.dataBytes ?? f.stdoutBytes));
  }
  assert.deepEqual(Uint8Array.from(chunks), allBytes);
  const st = await vm.fs.stat('/tmp/bytes.bin');
  assert.equal(st.size, 256);
  assert.equal(st.mode, '0640');
});

test('exec streams frames before the command exits, with stdin and exit codes', async () => {
  const gate = '/tmp/node-gate';
  const script = `echo first; i=0; while [ ! -e ${gate} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo second >&2; exit 3`;
  const frames = [];
  for await (const f of vm.exec({ command: '/bin/sh', args: ['-c', script] })) {
    frames.push(f);
    if (f.type === 'stdout' && (f.data ?? f.stdout) === 'first\n') await vm.fs.writeFile(gate, '');
  }
  const types = frames.map((f) => f.type);
  assert.equal(types[0], 'started');
  assert.equal(types.at(-1), 'exit');
  assert.equal(frames.at(-1).exitCode, 3);
  assert.ok(frames.some((f) => f.type === 'stderr' && (f.data ?? f.stderr) === 'second\n'));
  const cat = await vm.execBuffered({ command: '/bin/cat', stdin: undefined, args: ['/dev/null'] });
  assert.equal(cat.stdout, '');
  let echoed = '';
  for await (const f of vm.exec({ command: '/bin/cat', stdin: 'from stdin' })) {
    if (f.type === 'stdout') echoed += f.data ?? f.stdout;
  }
  assert.equal(echoed, 'from stdin');
});

test('leaving a stream early or aborting it ends the request', async () => {
  const long = { command: '/bin/sh', args: ['-c', 'echo tick; exec sleep 60'] };
  let count = 0;
  for await (const f of vm.exec(long)) {
    count += 1;
    if (f.type === 'stdout') break;
  }
  assert.ok(count >= 1);

  const controller = new AbortController();
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const f of vm.exec(long, { signal: controller.signal })) {
        seen.push(f.type);
        if (f.type === 'stdout') controller.abort();
      }
    })(),
    (e) => e.name === 'AbortError',
  );
  assert.ok(seen.includes('stdout'));

  const already = new AbortController();
  already.abort();
  await assert.rejects(client.getInfo({ signal: already.signal }), (e) => e.name === 'AbortError');
  const clientWide = new AbortController();
  const scoped = new SlicerClient({ baseURL, token, signal: clientWide.signal });
  const pending = scoped.vms.attach('sbox', vm.hostname).execBuffered({ command: '/bin/sleep', args: ['60'] });
  clientWide.abort(new Error('client closed'));
  await assert.rejects(pending, /client closed/);
});

test('background exec: launch, list, info, logs, wait, kill, remove', async () => {
  const started = await vm.bg.exec({ command: '/bin/sh', args: ['-c', 'echo bg-out; exit 4'] });
  assert.match(started.execId, /\S/);
  const waited = await vm.bg.wait(started.execId, 10);
  assert.equal(waited.running, false);
  assert.equal(waited.exitCode, 4);
  assert.ok((await vm.bg.list()).some((i) => i.execId === started.execId));
  const info = await vm.bg.info(started.execId);
  assert.equal(info.exitCode, 4);
  let out = '';
  for await (const f of vm.bg.logs(started.execId)) {
    if (f.dataBytes) out += new TextDecoder().decode(f.dataBytes);
  }
  assert.equal(out, 'bg-out\n');
  assert.deepEqual(await vm.bg.remove(started.execId), { execId: started.execId, reaped: true });
  await assert.rejects(vm.bg.info(started.execId), (e) => e instanceof SlicerAPIError && e.status === 410);

  const sleeper = await vm.bg.exec({ command: '/bin/sleep', args: ['60'] });
  const killed = await vm.bg.kill(sleeper.execId, { signal: 'KILL' });
  assert.equal(killed.execId, sleeper.execId);
  assert.equal(killed.signalSent, 'KILL');
  await assert.rejects(vm.bg.kill(sleeper.execId, { signal: 'BOGUS' }), TypeError);
  await vm.bg.wait(sleeper.execId, 10);
  await vm.bg.remove(sleeper.execId);
});

test('filesystem: mkdir, readDir, stat, exists, remove, tarTo, tarFrom', async () => {
  await vm.fs.mkdir({ path: '/tmp/fs-test/a/b', recursive: true });
  await vm.fs.writeFile('/tmp/fs-test/a/b/note.txt', 'note');
  const listing = await vm.fs.readDir('/tmp/fs-test/a');
  assert.deepEqual(listing.map((e) => [e.name, e.type]), [['b', 'directory']]);
  assert.equal(await vm.fs.exists('/tmp/fs-test/a/b/note.txt'), true);
  assert.equal(await vm.fs.stat('/tmp/fs-test/missing'), null);
  const tar = await vm.fs.tarFrom('/tmp/fs-test');
  assert.ok(tar.length >= 1024);
  await vm.fs.tarTo('/tmp/fs-copy', new Blob([tar]));
  assert.equal(new TextDecoder().decode(await vm.fs.readFile('/tmp/fs-copy/a/b/note.txt')), 'note');
  async function* chunks() {
    yield tar.subarray(0, 700);
    yield tar.subarray(700);
  }
  await vm.fs.tarTo('/tmp/fs-copy2', chunks());
  assert.equal(await vm.fs.exists('/tmp/fs-copy2/a/b/note.txt'), true);
  await vm.fs.remove('/tmp/fs-test', true);
  assert.equal(await vm.fs.exists('/tmp/fs-test'), false);
});

test('folder upload and download in memory, with progress', async () => {
  const files = [
    new File(['<p>dropped</p>'], 'index.html'),
    { path: 'data/all.bin', data: allBytes, mtime: 1_700_000_000 },
  ];
  const progress = [];
  const res = await vm.fs.uploadFolder('/tmp/folder', files, { onProgress: (p) => progress.push(p) });
  assert.equal(res.files, 2);
  assert.deepEqual(progress.at(-1), { phase: 'upload', loaded: res.archiveBytes, total: res.archiveBytes });
  const down = [];
  const entries = await vm.fs.downloadFolder('/tmp/folder', { onProgress: (p) => down.push(p) });
  const all = entries.find((e) => e.path === 'data/all.bin');
  assert.deepEqual(Uint8Array.from(all.data), allBytes);
  assert.equal(all.mtime, 1_700_000_000);
  assert.equal(new TextDecoder().decode(entries.find((e) => e.path === 'index.html').data), '<p>dropped</p>');
  assert.ok(down.length > 0 && down.at(-1).loaded > 0);
  await assert.rejects(vm.fs.uploadFolder('/tmp/x', [{ path: '../escape', data: 'x' }]), /escape|\.\./);
  await assert.rejects(vm.fs.uploadFolder('/tmp/x', [{ data: 'x' }]), TypeError);
});

test('the shared scenario passes under Node', async () => {
  const steps = await runScenario(sdk, { baseURL, token });
  assert.deepEqual(steps, ['create', 'exec-streams', 'upload-folder', 'download-folder', 'delete']);
});

test('fs.watch sends its query and headers and parses SSE split anywhere', async () => {
  const sse =
    ': heartbeat\r\n\r\n' +
    'id: 7\nevent: watch\ndata: {"id":0,"type":"create","path":"/tmp/w/é.txt",' +
    '"timestamp":"2026-05-02T11:00:01Z","size":5,"isDir":false}\n\n' +
    'id: 8\ndata: {"id":8,"type":"remove",\ndata: "path":"/tmp/w/d","isDir":true}\n\n' +
    'data: {"id":9,"type":"write","path":"/lost"}';
  const bytes = new TextEncoder().encode(sse);
  let seen;
  const fakeFetch = async (url, init) => {
    seen = { url, headers: Object.fromEntries(new Headers(init.headers)) };
    // One byte per chunk: every line and the two-byte "é" are split.
    let i = 0;
    const body = new ReadableStream({
      pull(controller) {
        if (i < bytes.length) controller.enqueue(bytes.subarray(i, ++i));
        else controller.close();
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  const c = new SlicerClient({ baseURL: 'http://slicer.test', token: 't0k', fetch: fakeFetch });
  const events = [];
  for await (const e of c.vms.attach('sbox', 'sbox-1').fs.watch({
    paths: ['/tmp/w', '/srv'], events: ['create'], recursive: true, uid: 0, maxEvents: 2, lastEventId: '6',
  })) {
    events.push(e);
  }
  assert.equal(
    seen.url,
    'http://slicer.test/vm/sbox-1/fs/watch?events=create&max_events=2&paths=%2Ftmp%2Fw&paths=%2Fsrv&recursive=true',
  );
  assert.equal(seen.headers['last-event-id'], '6');
  assert.equal(seen.headers.accept, 'text/event-stream');
  assert.equal(seen.headers.authorization, 'Bearer t0k');
  assert.deepEqual(events, [
    { id: 7, type: 'create', path: '/tmp/w/é.txt', timestamp: '2026-05-02T11:00:01Z', size: 5, isDir: false },
    { id: 8, type: 'remove', path: '/tmp/w/d', timestamp: '', size: 0, isDir: true },
  ]);
  await assert.rejects(
    (async () => {
      for await (const _ of c.vms.attach('sbox', 'sbox-1').fs.watch({ paths: [] })) break;
    })(),
    /paths/,
  );
});
