// Drives the web demo in headless Chromium: the web-demo binary (with its
// embedded emulator) on 127.0.0.1, Debian's /usr/bin/chromium through
// playwright-core, a fresh browser profile. Each step leaves a screenshot in
// artifacts/. Any browser console error fails the suite.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKSPACE = path.resolve(HERE, '..', '..');
const BINARY = process.env.WEB_DEMO_BIN || path.join(WORKSPACE, 'target', 'debug', 'web-demo');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Bounds every wait so a broken page fails the run instead of hanging it;
// no step is expected to come anywhere near it.
const HANG_GUARD_MS = 60_000;

let server;
let serverLog = '';
let baseUrl;
let context;
let page;
let scratch;
let hostname;
const consoleErrors = [];

/** Starts the binary on a free port and resolves with its URL, read from its first stdout line. */
async function startServer() {
  const env = { ...process.env };
  for (const name of ['SLICER_URL', 'SLICER_TOKEN', 'SLICER_TOKEN_FILE']) delete env[name];
  const args = ['--listen', '127.0.0.1:0'];
  if (process.env.WEB_DEMO_PKG_DIR) args.push('--pkg-dir', process.env.WEB_DEMO_PKG_DIR);
  server = spawn(BINARY, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (chunk) => {
    serverLog += chunk;
  });
  const lines = createInterface({ input: server.stdout });
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`web-demo printed nothing; stderr:\n${serverLog}`)), HANG_GUARD_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`web-demo exited with ${code} before listening; stderr:\n${serverLog}`));
    });
    server.once('error', reject);
  });
  lines.on('line', (line) => {
    serverLog += `${line}\n`;
  });
  const match = /^web demo on (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
  assert.ok(match, `unexpected first line: ${first}`);
  return match[1];
}

async function stopServer() {
  if (!server || server.exitCode !== null) return server?.exitCode;
  const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve(code ?? signal)));
  server.kill('SIGTERM');
  return exited;
}

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const byTestId = (id) => page.getByTestId(id);

/** Waits until the terminal status has `state` (and the given exit code). */
async function terminalState(state, exitCode) {
  const code = exitCode === undefined ? '' : `[data-exit-code="${exitCode}"]`;
  await page.locator(`[data-testid="terminal-status"][data-state="${state}"]${code}`).waitFor();
}

async function runInTerminal(command) {
  await byTestId('terminal-input').fill(command);
  await byTestId('terminal-input').press('Enter');
}

/** The text of the terminal's stdout spans. */
async function terminalStdout() {
  return (await page.locator('[data-testid="terminal-output"] .stdout').allTextContents()).join('');
}

/** Entries of a stored zip, by name, with CRC-32 and sizes checked. */
function readZip(buffer) {
  let end = buffer.length - 22;
  while (end >= 0 && buffer.readUInt32LE(end) !== 0x06054b50) end -= 1;
  assert.ok(end >= 0, 'the zip has an end-of-central-directory record');
  const count = buffer.readUInt16LE(end + 10);
  let at = buffer.readUInt32LE(end + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    assert.equal(buffer.readUInt32LE(at), 0x02014b50, 'central directory entry signature');
    assert.equal(buffer.readUInt16LE(at + 10), 0, 'entries are stored');
    const crc = buffer.readUInt32LE(at + 16);
    const size = buffer.readUInt32LE(at + 20);
    assert.equal(buffer.readUInt32LE(at + 24), size, 'stored: packed size equals size');
    const nameLength = buffer.readUInt16LE(at + 28);
    const extraLength = buffer.readUInt16LE(at + 30);
    const commentLength = buffer.readUInt16LE(at + 32);
    const mode = buffer.readUInt32LE(at + 38) >>> 16;
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.toString('utf8', at + 46, at + 46 + nameLength);
    assert.equal(buffer.readUInt32LE(local), 0x04034b50, `local header of ${name}`);
    const dataStart = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const data = buffer.subarray(dataStart, dataStart + size);
    if (typeof zlib.crc32 === 'function') assert.equal(zlib.crc32(data) >>> 0, crc, `CRC-32 of ${name}`);
    entries.set(name, { data, mode });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

describe('web demo in Chromium', () => {
  before(async () => {
    await rm(ARTIFACTS, { recursive: true, force: true });
    await mkdir(ARTIFACTS, { recursive: true });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'web-demo-e2e-'));
    baseUrl = await startServer();
    context = await chromium.launchPersistentContext(path.join(scratch, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      acceptDownloads: true,
      viewport: { width: 1440, height: 1000 },
    });
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(HANG_GUARD_MS);
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(`console: ${message.text()} (${message.location().url || 'page'})`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.stack || error.message}`));
  });

  after(async () => {
    if (context) await context.close();
    const exit = await stopServer();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    assert.equal(exit, 0, `web-demo should exit cleanly on SIGTERM; its output:\n${serverLog}`);
  });

  it('loads, connects and shows server info', async () => {
    await page.goto(baseUrl);
    await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor();
    assert.notEqual((await byTestId('server-version').textContent()).trim(), '–');
    assert.match(await byTestId('server-upstream').textContent(), /built-in emulator/);
    await byTestId('hostgroup-item').first().waitFor();
    await byTestId('vm-empty').waitFor();
    await shot('01-overview');
  });

  it('creates a VM', async () => {
    // Out-of-range input is explained next to the form, before any request.
    await byTestId('create-vm-cpus').fill('99');
    await byTestId('create-vm-submit').click();
    await byTestId('create-vm-error').filter({ hasText: 'CPUs must be a whole number from 1 to' }).waitFor();
    await byTestId('create-vm-cpus').fill('1');

    await byTestId('create-vm-tags').fill('name=e2e-box, suite=web-demo');
    await byTestId('create-vm-submit').click();
    await byTestId('create-vm-status').filter({ hasText: 'Created' }).waitFor();
    const row = byTestId('vm-row').first();
    await row.locator('[data-testid="vm-status"]', { hasText: 'Running' }).waitFor();
    hostname = await row.getAttribute('data-hostname');
    assert.match(hostname, /^sbox-\d+$/);
    assert.match(await row.getByTestId('vm-tags').textContent(), /name=e2e-box/);
    await byTestId('vm-detail').waitFor();
    assert.ok(!(await byTestId('create-vm-error').isVisible()), 'the earlier error is cleared');
    assert.match(await byTestId('vm-detail-title').textContent(), new RegExp(hostname));
    // Stats arrive with the next refreshes; the chart legend then shows them.
    await row.getByTestId('vm-stats').filter({ hasText: 'CPU' }).waitFor();
    await shot('02-vm-created');
  });

  it('runs uname -a', async () => {
    await runInTerminal('uname -a');
    await terminalState('exited', 0);
    assert.match(await terminalStdout(), /Linux/);
  });

  it('shows output while a command is still running', async () => {
    await runInTerminal(
      'echo before-marker; i=0; while [ ! -e streaming.marker ] && [ $i -lt 3000 ]; do sleep 0.2; i=$((i+1)); done; echo after-marker',
    );
    await page.locator('[data-testid="terminal-output"] .stdout', { hasText: 'before-marker' }).waitFor();
    // The command is parked until the marker exists, so what is on screen
    // now was streamed while it runs.
    assert.equal(await byTestId('terminal-status').getAttribute('data-state'), 'running');
    assert.ok(!(await terminalStdout()).includes('after-marker'));
    assert.ok(await byTestId('terminal-stop').isEnabled());
    await shot('03-terminal-streaming');

    // Create the marker through the page's file browser (mkdir in the home
    // directory, where the command runs).
    await byTestId('tab-files').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="files-path"]').value.startsWith('/'));
    await byTestId('mkdir-name').fill('streaming.marker');
    await byTestId('mkdir-submit').click();
    await page.locator('[data-testid="file-row"][data-name="streaming.marker"]').waitFor();

    await byTestId('tab-terminal').click();
    await terminalState('exited', 0);
    assert.match(await terminalStdout(), /before-marker\n[\s\S]*after-marker\n/);
  });

  it('stops a running command', async () => {
    await runInTerminal('echo sleeping; sleep 600; echo woke-up');
    await page.locator('[data-testid="terminal-output"] .stdout', { hasText: 'sleeping' }).waitFor();
    assert.equal(await byTestId('terminal-status').getAttribute('data-state'), 'running');
    await byTestId('terminal-stop').click();
    await terminalState('stopped');
    assert.ok(await byTestId('terminal-run').isEnabled());
    assert.ok(!(await terminalStdout()).includes('woke-up'));

    // stderr is shown apart from stdout.
    await runInTerminal('echo to-stderr >&2; exit 3');
    await terminalState('exited', 3);
    const stderr = (await page.locator('[data-testid="terminal-output"] .stderr').allTextContents()).join('');
    assert.match(stderr, /to-stderr/);
    assert.ok(!(await terminalStdout()).includes('to-stderr'));

    // Up arrow recalls the previous command.
    await byTestId('terminal-input').press('ArrowUp');
    assert.equal(await byTestId('terminal-input').inputValue(), 'echo to-stderr >&2; exit 3');
    await byTestId('terminal-input').press('ArrowUp');
    assert.equal(await byTestId('terminal-input').inputValue(), 'echo sleeping; sleep 600; echo woke-up');
    await byTestId('terminal-input').press('ArrowDown');
    await byTestId('terminal-input').press('ArrowDown');
    assert.equal(await byTestId('terminal-input').inputValue(), '');
    await shot('04-terminal');
  });

  const upload = {
    'hello.txt': Buffer.from('hello from the e2e suite\n'),
    'nested/data.bin': Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(70_000)]),
    'nested/deeper/empty.txt': Buffer.alloc(0),
    'ünïcødé name.txt': Buffer.from('non-ASCII names survive\n'),
  };

  it('uploads a folder and lists it', async () => {
    const folder = path.join(scratch, 'e2e-upload');
    for (const [name, data] of Object.entries(upload)) {
      await mkdir(path.dirname(path.join(folder, name)), { recursive: true });
      await writeFile(path.join(folder, name), data);
    }
    await byTestId('tab-files').click();
    await byTestId('upload-folder-input').setInputFiles(folder);
    await byTestId('upload-status').filter({ hasText: 'Uploaded 4 files' }).waitFor();
    const folderRow = page.locator('[data-testid="file-row"][data-name="e2e-upload"]');
    await folderRow.waitFor();
    await folderRow.getByTestId('file-name').click();
    await page.locator('[data-testid="file-row"][data-name="hello.txt"]').waitFor();
    await page.locator('[data-testid="file-row"][data-name="nested"]').waitFor();
    await page.locator('[data-testid="file-row"][data-name="ünïcødé name.txt"]').waitFor();

    await page.locator('[data-testid="file-row"][data-name="hello.txt"]').getByTestId('file-view').click();
    await byTestId('file-viewer-content').filter({ hasText: 'hello from the e2e suite' }).waitFor();
    await shot('05-files');
    await byTestId('files-up').click();
    await folderRow.waitFor();
    await byTestId('file-viewer').waitFor({ state: 'hidden' });

    // A typed path is looked up with stat: a file opens in the viewer.
    await byTestId('files-path').fill('e2e-upload/nested/../hello.txt');
    await byTestId('files-go').click();
    await byTestId('file-viewer-name').filter({ hasText: /\/e2e-upload\/hello\.txt$/ }).waitFor();
    await byTestId('files-up').click();
    await folderRow.waitFor();
  });

  it('downloads the folder back as a zip with the same bytes', async () => {
    const folderRow = page.locator('[data-testid="file-row"][data-name="e2e-upload"]');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      folderRow.getByTestId('folder-download').click(),
    ]);
    assert.equal(download.suggestedFilename(), 'e2e-upload.zip');
    const saved = path.join(ARTIFACTS, 'e2e-upload.zip');
    await download.saveAs(saved);
    await byTestId('download-status').filter({ hasText: 'e2e-upload.zip' }).waitFor();

    const entries = readZip(await readFile(saved));
    for (const [name, data] of Object.entries(upload)) {
      const entry = entries.get(`e2e-upload/${name}`);
      assert.ok(entry, `the zip holds e2e-upload/${name}; it has ${[...entries.keys()].join(', ')}`);
      assert.ok(entry.data.equals(data), `e2e-upload/${name} comes back byte for byte`);
    }
    await shot('06-files-downloaded');
  });

  it('shows the serial log', async () => {
    await byTestId('tab-log').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="serial-log"]').textContent.trim().length > 0);
    await shot('07-serial-log');
  });

  it('pauses and resumes the VM', async () => {
    const row = page.locator(`[data-testid="vm-row"][data-hostname="${hostname}"]`);
    await row.getByTestId('vm-pause').click();
    await row.locator('[data-testid="vm-status"]', { hasText: 'Paused' }).waitFor();
    await row.getByTestId('vm-stats').filter({ hasText: 'paused' }).waitFor();
    await shot('08-vm-paused');
    await row.getByTestId('vm-resume').click();
    await row.locator('[data-testid="vm-status"]', { hasText: 'Running' }).waitFor();
    const rowError = page.locator(`tr.row-error[data-hostname="${hostname}"] [data-testid="vm-row-error"]`);
    assert.equal(await rowError.count(), 1);
    assert.ok(!(await rowError.isVisible()), 'no action failed');
  });

  it('creates, updates and deletes a secret without showing its value', async () => {
    const value = `v4lue-${randomBytes(6).toString('hex')}`;
    await byTestId('secret-name').fill('e2e-secret');
    await byTestId('secret-value').fill(value);
    await byTestId('secret-submit').click();
    const row = page.locator('[data-testid="secret-row"][data-name="e2e-secret"]');
    await row.waitFor();
    await byTestId('secret-status').filter({ hasText: 'Created secret e2e-secret' }).waitFor();
    assert.equal(await byTestId('secret-value').inputValue(), '', 'the value is cleared after saving');
    assert.ok(!(await page.content()).includes(value), 'the value appears nowhere in the page');

    // A second create with the same name explains what to do.
    await byTestId('secret-name').fill('e2e-secret');
    await byTestId('secret-value').fill('other');
    await byTestId('secret-submit').click();
    await byTestId('secret-form-error').filter({ hasText: 'already exists' }).waitFor();

    await row.getByTestId('secret-edit').click();
    await byTestId('secret-value').fill(`${value}-2`);
    await byTestId('secret-submit').click();
    await byTestId('secret-status').filter({ hasText: 'Saved a new value for e2e-secret' }).waitFor();
    assert.ok(!(await byTestId('secret-form-error').isVisible()));
    await shot('09-secrets');

    await row.getByTestId('secret-delete').click();
    await row.getByTestId('secret-delete').click();
    await row.waitFor({ state: 'detached' });
    await byTestId('secrets-empty').waitFor();
  });

  it('deletes the VM', async () => {
    const row = page.locator(`[data-testid="vm-row"][data-hostname="${hostname}"]`);
    await row.getByTestId('vm-delete').click();
    await row.getByTestId('vm-delete').click();
    await row.waitFor({ state: 'detached' });
    await byTestId('vm-empty').waitFor();
    await byTestId('vm-detail-empty').waitFor();
    await shot('10-vm-deleted');
  });

  it('logged no browser console errors', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
