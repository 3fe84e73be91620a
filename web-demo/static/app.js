// Slicer console: a single page that talks to Slicer only through the
// project's npm package, served by the demo server at /pkg/. The server
// relays /api/* to Slicer and adds the token there, so the page never has it.

const REFRESH_MS = 3000;
const CHART_POINTS = 40;
const MAX_VIEW_BYTES = 1024 * 1024;
const MAX_TERMINAL_CHARS = 1_000_000;
const HISTORY_KEY = 'slicer-console-history';
const HISTORY_LIMIT = 200;
const CONFIRM_MS = 4000;

const state = {
  slicer: null, // the npm package's exports
  client: null,
  groups: [],
  secrets: [],
  vms: new Map(), // hostname -> VMInfo
  rows: new Map(), // hostname -> row elements
  charts: new Map(), // hostname -> [{ cpu, mem }]
  selected: null, // hostname
  tab: 'terminal',
  exec: null, // AbortController of the running command
  history: loadHistory(),
  historyIndex: -1,
  historyDraft: '',
  cwd: null,
  upload: null, // AbortController
  download: null, // AbortController
  refreshTimer: null,
};

// ---------------------------------------------------------------- helpers

/** The element with `data-testid="id"`. */
function $(id, root = document) {
  const found = root.querySelector(`[data-testid="${id}"]`);
  if (!found) throw new Error(`page element ${id} is missing`);
  return found;
}

/** Creates an element: `el('td', { className: 'x', dataset: { a: 1 } }, child...)`. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'testid') node.dataset.testid = value;
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A readable sentence for any error the package or the browser raises. */
function describeError(err) {
  if (err === null || err === undefined) return 'Something went wrong.';
  if (err.name === 'AbortError') return 'Cancelled.';
  if (err.name === 'SecretExistsError') return `${err.message}. Use “Replace value” in the list to change it.`;
  if (typeof err.status === 'number') {
    let message = '';
    const body = typeof err.body === 'string' ? err.body.trim() : '';
    try {
      const parsed = JSON.parse(body);
      if (parsed && typeof parsed.error === 'string') message = parsed.error;
    } catch (_) {
      message = body;
    }
    // The server's own words when it gave any; otherwise what the status means.
    if (!message) message = STATUS_HINTS[err.status] || `${err.method || 'the'} request to ${err.path || 'Slicer'} failed`;
    const sentence = message.charAt(0).toUpperCase() + message.slice(1);
    return `${sentence}${/[.!?]$/.test(sentence) ? '' : '.'} (HTTP ${err.status})`;
  }
  if (err instanceof TypeError && /fetch|network/i.test(err.message)) {
    return 'Cannot reach the web demo server. Check that it is still running, then try again.';
  }
  return err.message || String(err);
}

const STATUS_HINTS = {
  400: 'Slicer rejected the request as invalid',
  401: 'Slicer refused the token the demo server uses',
  403: 'Slicer does not allow this',
  404: 'not found',
  408: 'the VM did not become ready in time, so Slicer removed it',
  409: "this conflicts with the VM's current state",
  500: 'Slicer hit an internal error',
  502: 'the demo server cannot reach Slicer',
};

function showError(id, err) {
  const node = $(id);
  node.textContent = typeof err === 'string' ? err : describeError(err);
  node.hidden = false;
}

function clearError(id) {
  const node = $(id);
  node.textContent = '';
  node.hidden = true;
}

function showStatus(id, text) {
  const node = $(id);
  node.textContent = text;
  node.hidden = !text;
}

/** Disables `button` while `work` runs; returns what `work` returns. */
async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

/**
 * Makes a destructive button ask again: the first click arms it (its text
 * becomes `confirmText`), a second click within a few seconds runs `action`.
 */
function confirmable(button, confirmText, action) {
  const label = button.textContent;
  let timer = null;
  const disarm = () => {
    clearTimeout(timer);
    timer = null;
    button.textContent = label;
    button.classList.remove('confirming');
    delete button.dataset.armed;
  };
  button.addEventListener('click', async (event) => {
    event.stopPropagation();
    if (!timer) {
      button.textContent = confirmText;
      button.classList.add('confirming');
      button.dataset.armed = 'true';
      timer = setTimeout(disarm, CONFIRM_MS);
      return;
    }
    disarm();
    await action();
  });
}

function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits).replace(/\.0+$/, '')} ${units[unit]}`;
}

/** A Date from an RFC 3339 string, Unix seconds (number or digits) or milliseconds. */
function toDate(value) {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value > 1e11 ? value : value * 1000);
  if (typeof value === 'string' && /^\d+$/.test(value)) return toDate(Number(value));
  if (typeof value === 'string' && value) return new Date(value);
  return null;
}

function formatDate(value) {
  const date = toDate(value);
  if (!date || Number.isNaN(date.getTime()) || date.getFullYear() <= 1) return '–';
  return date.toLocaleString();
}

function joinPath(dir, name) {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

function parentPath(path) {
  if (path === '/' || !path.includes('/')) return path;
  const cut = path.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

function baseName(path) {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** A user-typed path made absolute against the current folder. */
function resolvePath(typed) {
  let path = typed.trim();
  if (!path) return state.cwd || '/';
  if (!path.startsWith('/') && !path.startsWith('~')) path = joinPath(state.cwd || '/', path);
  const parts = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  if (path.startsWith('~')) return parts.join('/') || '~';
  return `/${parts.join('/')}`;
}

function loadHistory() {
  try {
    const saved = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
    return Array.isArray(saved) ? saved.filter((s) => typeof s === 'string') : [];
  } catch (_) {
    return [];
  }
}

function saveHistory() {
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(state.history.slice(-HISTORY_LIMIT)));
  } catch (_) {
    // Storage may be full or disabled; history then lasts for this visit.
  }
}

/** Offers `blob` as a download named `name`. */
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---------------------------------------------------------------- zip

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the zip and gzip polynomial) of `bytes`. */
function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function dosTime(date) {
  return ((date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1)) & 0xffff;
}

function dosDate(date) {
  const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
  return (((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate()) & 0xffff;
}

/**
 * A zip archive (stored, not compressed) of `entries`:
 * `[{ name, data: Uint8Array, mtime: Date, mode: number, dir: boolean }]`.
 * Names use `/` and carry the UTF-8 flag; Unix modes go in the external
 * attributes so unzip restores permissions.
 */
function buildZip(entries) {
  if (entries.length > 0xffff) {
    throw new Error(`${entries.length} files are more than a zip without extensions can hold; download smaller folders.`);
  }
  const encoder = new TextEncoder();
  const body = [];
  const central = [];
  let offset = 0;
  let centralSize = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.dir ? `${entry.name.replace(/\/+$/, '')}/` : entry.name);
    const data = entry.dir ? new Uint8Array(0) : entry.data;
    const crc = crc32(data);
    const mtime = entry.mtime && !Number.isNaN(entry.mtime.getTime()) ? entry.mtime : new Date();
    const time = dosTime(mtime);
    const date = dosDate(mtime);
    if (offset + 30 + name.length + data.length > 0xffffffff) {
      throw new Error('This folder is larger than 4 GiB, too large for a simple zip; download its files one by one.');
    }

    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true); // names are UTF-8
    local.setUint16(8, 0, true); // stored
    local.setUint16(10, time, true);
    local.setUint16(12, date, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true);
    body.push(local, name, data);

    const type = entry.dir ? 0o040000 : 0o100000;
    const mode = (entry.mode ?? (entry.dir ? 0o755 : 0o644)) & 0o7777;
    const external = (((type | mode) << 16) | (entry.dir ? 0x10 : 0)) >>> 0;
    const record = new DataView(new ArrayBuffer(46));
    record.setUint32(0, 0x02014b50, true);
    record.setUint16(4, (3 << 8) | 20, true); // made by Unix
    record.setUint16(6, 20, true);
    record.setUint16(8, 0x0800, true);
    record.setUint16(10, 0, true);
    record.setUint16(12, time, true);
    record.setUint16(14, date, true);
    record.setUint32(16, crc, true);
    record.setUint32(20, data.length, true);
    record.setUint32(24, data.length, true);
    record.setUint16(28, name.length, true);
    record.setUint16(30, 0, true);
    record.setUint16(32, 0, true);
    record.setUint16(34, 0, true);
    record.setUint16(36, 0, true);
    record.setUint32(38, external, true);
    record.setUint32(42, offset, true);
    central.push(record, name);

    offset += 30 + name.length + data.length;
    centralSize += 46 + name.length;
  }
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return new Blob([...body, ...central, end], { type: 'application/zip' });
}

// ---------------------------------------------------------------- start

async function start() {
  wireForms();
  let info;
  try {
    const response = await fetch('/demo-info', { cache: 'no-store' });
    info = await response.json();
  } catch (err) {
    fatal(`Cannot reach the web demo server: ${describeError(err)}`);
    return;
  }
  $('server-upstream').textContent = info.emulator ? `built-in emulator (${info.slicer})` : info.slicer;
  if (!info.package) {
    fatal('The Slicer npm package has not been built, so this page cannot talk to Slicer. Build it with wasm/build.sh (or run web-demo/run-e2e.sh), then reload.');
    return;
  }
  try {
    state.slicer = await loadPackage();
    state.client = new state.slicer.SlicerClient({ baseURL: `${location.origin}/api` });
  } catch (err) {
    fatal(`Could not load the Slicer npm package from /pkg/: ${describeError(err)}`);
    return;
  }
  await connect();
  loadGroups();
  loadSecrets();
  refreshLoop();
}

/** Imports the package's browser entry, as named in its package.json. */
async function loadPackage() {
  const meta = await (await fetch('/pkg/package.json', { cache: 'no-cache' })).json();
  const entry = packageEntry(meta);
  if (!entry) throw new Error('its package.json names no browser entry');
  return import(`/pkg/${entry.replace(/^\.\//, '')}`);
}

/** The browser ESM entry: `exports["."]` conditions first, then the legacy fields. */
function packageEntry(meta) {
  const pick = (target) => {
    if (typeof target === 'string') return target;
    if (!target || typeof target !== 'object') return null;
    for (const key of ['browser', 'import', 'module', 'default']) {
      const found = pick(target[key]);
      if (found) return found;
    }
    return null;
  };
  const exportsField = meta.exports;
  const dot = exportsField && typeof exportsField === 'object' && '.' in exportsField ? exportsField['.'] : exportsField;
  return pick(dot) || (typeof meta.browser === 'string' ? meta.browser : null) || meta.module || meta.main || null;
}

function fatal(message) {
  setConnection('error', 'Not connected');
  const banner = $('global-error');
  banner.textContent = message;
  banner.hidden = false;
}

function setConnection(kind, text) {
  $('connection-status').dataset.state = kind;
  $('connection-text').textContent = text;
}

async function connect() {
  try {
    const info = await state.client.getInfo();
    $('server-version').textContent = info.version || 'unknown version';
    $('server-platform').textContent = [info.platform, info.arch].filter(Boolean).join(' / ') || '–';
    $('server-info').hidden = false;
    setConnection('connected', 'Connected');
    $('global-error').hidden = true;
  } catch (err) {
    setConnection('error', 'Not connected');
    const banner = $('global-error');
    banner.textContent = `Cannot talk to Slicer: ${describeError(err)}`;
    banner.hidden = false;
  }
}

// ---------------------------------------------------------------- host groups

async function loadGroups() {
  clearError('hostgroups-error');
  try {
    state.groups = await state.client.hostGroups.list();
  } catch (err) {
    showError('hostgroups-error', err);
    return;
  }
  const list = $('hostgroup-list');
  list.replaceChildren(
    ...state.groups.map((g) =>
      el('li', { testid: 'hostgroup-item', dataset: { name: g.name } },
        el('span', { className: 'name' }, g.name),
        el('span', { className: 'facts' },
          `up to ${g.cpus} CPU${g.cpus === 1 ? '' : 's'} · ${formatBytes(g.ramBytes)} RAM · ${g.arch || 'unknown arch'}` +
          (g.gpuCount ? ` · ${g.gpuCount} GPU` : '') +
          (g.count ? ` · ${g.count} pre-created` : '')),
      ),
    ),
  );
  $('hostgroups-empty').hidden = state.groups.length > 0;

  const select = $('create-vm-group');
  const previous = select.value;
  select.replaceChildren(...state.groups.map((g) => el('option', { value: g.name }, g.name)));
  if (state.groups.some((g) => g.name === previous)) select.value = previous;
  $('create-vm-submit').disabled = state.groups.length === 0;
  applyGroupLimits(true);
}

/** Sets the CPU and RAM limits (and, when `reset`, the defaults) of the chosen group. */
function applyGroupLimits(reset) {
  const group = state.groups.find((g) => g.name === $('create-vm-group').value);
  const cpus = $('create-vm-cpus');
  const ram = $('create-vm-ram');
  if (!group) {
    $('create-vm-cpus-hint').textContent = '';
    $('create-vm-ram-hint').textContent = '';
    return;
  }
  const maxGiB = group.ramBytes / 2 ** 30;
  cpus.max = String(group.cpus);
  ram.max = String(maxGiB);
  if (reset) {
    cpus.value = String(Math.min(1, group.cpus) || 1);
    ram.value = String(Math.min(1, maxGiB));
  }
  $('create-vm-cpus-hint').textContent = `1 to ${group.cpus}`;
  $('create-vm-ram-hint').textContent = `up to ${formatBytes(group.ramBytes)}`;
}

// ---------------------------------------------------------------- create VM

async function createVM(event) {
  event.preventDefault();
  clearError('create-vm-error');
  showStatus('create-vm-status', '');
  const form = event.currentTarget;
  const group = state.groups.find((g) => g.name === form.group.value);
  if (!group) {
    showError('create-vm-error', 'Pick a host group first.');
    return;
  }
  const cpus = Number(form.cpus.value);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > group.cpus) {
    showError('create-vm-error', `CPUs must be a whole number from 1 to ${group.cpus} for group ${group.name}.`);
    return;
  }
  const ramBytes = Math.round(Number(form.ram.value) * 2 ** 30);
  if (!Number.isFinite(ramBytes) || ramBytes <= 0 || ramBytes > group.ramBytes) {
    showError('create-vm-error', `RAM must be more than 0 and at most ${formatBytes(group.ramBytes)} for group ${group.name}.`);
    return;
  }
  const tags = form.tags.value.split(',').map((t) => t.trim()).filter(Boolean);
  const bad = tags.find((t) => /\s/.test(t));
  if (bad) {
    showError('create-vm-error', `Tag “${bad}” contains a space; separate tags with commas.`);
    return;
  }
  const secrets = [...$('create-vm-secrets').querySelectorAll('input:checked')].map((c) => c.value);
  const request = { cpus, ramBytes };
  if (tags.length) request.tags = tags;
  if (form.userdata.value.trim()) request.userdata = form.userdata.value;
  if (secrets.length) request.secrets = secrets;
  const wait = form.wait.value;
  const options = wait ? { wait } : {};

  const submit = $('create-vm-submit');
  showStatus('create-vm-status', wait ? 'Creating the VM and waiting for it to be ready…' : 'Creating the VM…');
  try {
    const vm = await busy(submit, () => state.client.vms.create(group.name, request, options));
    showStatus('create-vm-status', `Created ${vm.hostname}${vm.ip ? ` (${vm.ip})` : ''}.`);
    form.tags.value = '';
    await refreshVMs();
    selectVM(vm.hostname);
  } catch (err) {
    showStatus('create-vm-status', '');
    showError('create-vm-error', err);
  }
}

// ---------------------------------------------------------------- VM list

function refreshLoop() {
  clearTimeout(state.refreshTimer);
  refreshVMs().finally(() => {
    state.refreshTimer = setTimeout(refreshLoop, REFRESH_MS);
  });
}

async function refreshVMs() {
  let list;
  let stats;
  try {
    [list, stats] = await Promise.all([state.client.vms.list(), state.client.vms.stats()]);
  } catch (err) {
    showError('vms-error', `Could not refresh the VM list: ${describeError(err)}`);
    setConnection('error', 'Connection problem');
    return;
  }
  clearError('vms-error');
  if ($('connection-status').dataset.state !== 'connected') {
    setConnection('connected', 'Connected');
  }
  const byHost = new Map(stats.map((s) => [s.hostname, s]));
  list.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)) || a.hostname.localeCompare(b.hostname));
  state.vms = new Map(list.map((vm) => [vm.hostname, vm]));

  const body = $('vm-rows');
  for (const [hostname, row] of state.rows) {
    if (!state.vms.has(hostname)) {
      row.tr.remove();
      row.errorRow.remove();
      state.rows.delete(hostname);
      state.charts.delete(hostname);
    }
  }
  const shown = [...body.querySelectorAll('tr.vm-row')].map((tr) => tr.dataset.hostname);
  const inOrder = shown.length === list.length && list.every((vm, i) => shown[i] === vm.hostname);
  for (const vm of list) {
    let row = state.rows.get(vm.hostname);
    if (!row) {
      row = vmRow(vm);
      state.rows.set(vm.hostname, row);
    }
    // Re-placing rows only when the order changed keeps keyboard focus.
    if (!inOrder) body.append(row.tr, row.errorRow);
    updateRow(row, vm, byHost.get(vm.hostname));
  }
  $('vm-empty').hidden = list.length > 0;
  $('vms-updated').textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;

  if (state.selected && !state.vms.has(state.selected)) closeDetail();
  if (state.selected) updateDetailTitle();
}

/** The handle the package uses for actions on one VM. */
function vmHandle(hostname) {
  const info = state.vms.get(hostname);
  let group = info && info.hostGroup;
  if (!group) {
    // Old daemons leave the group out; VM names are `<group>-<n>`.
    const match = state.groups.find((g) => hostname.startsWith(`${g.name}-`));
    group = match ? match.name : '';
  }
  return state.client.vms.attach(group, hostname);
}

function vmRow(vm) {
  const button = (text, testid, title) => el('button', { type: 'button', className: 'small', testid, title }, text);
  const cells = {
    name: el('td', {}, el('div', { className: 'vm-name', testid: 'vm-hostname' }, vm.hostname), el('div', { className: 'vm-group' })),
    status: el('td', {}, el('span', { className: 'pill', testid: 'vm-status' })),
    ip: el('td', { testid: 'vm-ip', className: 'nowrap' }),
    cpus: el('td', { testid: 'vm-cpus' }),
    ram: el('td', { testid: 'vm-ram', className: 'nowrap' }),
    tags: el('td', { testid: 'vm-tags' }),
    chart: el('td', { className: 'chart-cell' }),
    actions: el('td', {}),
  };
  const canvas = el('canvas', { width: 140, height: 34, testid: 'vm-chart', role: 'img', ariaLabel: 'CPU load and memory use over time' });
  const legend = el('div', { className: 'chart-legend', testid: 'vm-stats' }, 'waiting for stats…');
  cells.chart.append(canvas, legend);

  const buttons = {
    open: button('Open', 'vm-open', 'Open the terminal, files and serial log'),
    pause: button('Pause', 'vm-pause', 'Freeze the VM, keeping its memory'),
    resume: button('Resume', 'vm-resume', 'Unfreeze the VM'),
    reboot: button('Reboot', 'vm-reboot', 'Restart the guest'),
    shutdown: button('Shut down', 'vm-shutdown', 'Power off the guest (an ephemeral VM is then removed)'),
    remove: button('Delete', 'vm-delete', 'Delete the VM and its disk'),
  };
  buttons.remove.classList.add('danger');
  buttons.shutdown.classList.add('danger');
  cells.actions.append(el('div', { className: 'row-actions' }, ...Object.values(buttons)));

  const tr = el('tr', { className: 'vm-row', testid: 'vm-row', dataset: { hostname: vm.hostname } }, ...Object.values(cells));
  const errorCell = el('td', { colSpan: 8, testid: 'vm-row-error', role: 'alert' });
  const errorRow = el('tr', { className: 'row-error', hidden: true, dataset: { hostname: vm.hostname } }, errorCell);
  const row = { tr, errorRow, errorCell, cells, canvas, legend, buttons };

  tr.addEventListener('click', (event) => {
    if (event.target.closest('button')) return;
    selectVM(vm.hostname);
  });
  buttons.open.addEventListener('click', () => selectVM(vm.hostname));
  const act = (btn, what, work) => btn.addEventListener('click', () => rowAction(row, vm.hostname, btn, what, work));
  act(buttons.pause, 'Pausing', (h) => h.pause());
  act(buttons.resume, 'Resuming', (h) => h.resume());
  act(buttons.reboot, 'Rebooting', (h) => h.shutdown({ action: 'reboot' }));
  confirmable(buttons.shutdown, 'Really shut down?', () =>
    rowAction(row, vm.hostname, buttons.shutdown, 'Shutting down', (h) => h.shutdown({ action: 'shutdown' })));
  confirmable(buttons.remove, 'Really delete?', () =>
    rowAction(row, vm.hostname, buttons.remove, 'Deleting', async (h) => {
      await h.delete();
      if (state.selected === vm.hostname) closeDetail();
    }));
  return row;
}

async function rowAction(row, hostname, button, what, work) {
  row.errorRow.hidden = true;
  try {
    await busy(button, () => work(vmHandle(hostname)));
  } catch (err) {
    row.errorCell.textContent = `${what} ${hostname} failed: ${describeError(err)}`;
    row.errorRow.hidden = false;
  }
  await refreshVMs();
}

function updateRow(row, vm, stat) {
  const status = vm.status || 'Unknown';
  const pill = row.cells.status.firstChild;
  pill.textContent = status;
  pill.dataset.status = status;
  row.tr.dataset.status = status;
  row.cells.name.lastChild.textContent = vm.hostGroup ? `group ${vm.hostGroup}${vm.persistent ? ' · persistent' : ''}` : '';
  row.cells.ip.textContent = vm.ip || '–';
  row.cells.cpus.textContent = vm.cpus ?? '–';
  row.cells.ram.textContent = vm.ramBytes ? formatBytes(vm.ramBytes) : '–';
  row.cells.tags.replaceChildren(...(vm.tags || []).map((t) => el('span', { className: 'tag' }, t)));
  row.tr.classList.toggle('selected', state.selected === vm.hostname);

  const paused = status === 'Paused';
  const running = status === 'Running';
  row.buttons.pause.hidden = paused;
  row.buttons.resume.hidden = !paused;
  row.buttons.pause.disabled = !running;
  row.buttons.reboot.disabled = !running;
  row.buttons.shutdown.disabled = !running;

  const points = state.charts.get(vm.hostname) || [];
  const snap = stat && stat.snapshot;
  if (snap) {
    const cpus = snap.totalCpus || vm.cpus || 1;
    const cpu = Math.min(100, Math.max(0, (100 * (snap.loadAvg1 || 0)) / cpus));
    const mem = Math.min(100, Math.max(0, snap.memoryUsedPercent ?? (snap.totalMemory ? (100 * snap.memoryUsed) / snap.totalMemory : 0)));
    points.push({ cpu, mem });
    if (points.length > CHART_POINTS) points.splice(0, points.length - CHART_POINTS);
    state.charts.set(vm.hostname, points);
    row.legend.replaceChildren(
      el('span', { className: 'cpu' }, `CPU ${cpu.toFixed(0)}%`), ' · ',
      el('span', { className: 'mem' }, `Mem ${mem.toFixed(0)}%`),
      ` of ${formatBytes(snap.totalMemory)}`,
    );
  } else {
    row.legend.textContent = (stat && stat.error) || 'no stats yet';
  }
  drawChart(row.canvas, points);
}

/** Two lines over the last readings: CPU load (per CPU) and memory use, 0–100 %. */
function drawChart(canvas, points) {
  const ratio = window.devicePixelRatio || 1;
  const width = 140;
  const height = 34;
  if (canvas.width !== width * ratio) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = '#e3e8ee';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, height / 2);
  ctx.lineTo(width, height / 2);
  ctx.stroke();
  const line = (key, color) => {
    if (points.length === 0) return;
    if (points.length === 1) {
      // One reading so far: a dot at the right edge.
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(width - 2, height - 2 - (points[0][key] / 100) * (height - 4), 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => {
      // The newest reading sits at the right edge; older ones step left.
      const x = width - (points.length - 1 - i) * (width / (CHART_POINTS - 1));
      const y = height - 2 - (p[key] / 100) * (height - 4);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  line('mem', '#d9730d');
  line('cpu', '#2f6fde');
}

// ---------------------------------------------------------------- VM detail

function selectVM(hostname) {
  if (state.selected === hostname) return;
  stopCommand();
  state.upload?.abort();
  state.download?.abort();
  state.selected = hostname;
  state.cwd = null;
  for (const [name, row] of state.rows) row.tr.classList.toggle('selected', name === hostname);
  $('vm-detail').hidden = false;
  $('vm-detail-empty').hidden = true;
  $('terminal-output').replaceChildren();
  termWrite('note', `Commands run on ${hostname}.\n`);
  setTerminalStatus('idle', 'Ready.');
  clearError('terminal-error');
  $('file-rows').replaceChildren();
  $('file-viewer').hidden = true;
  $('serial-log').textContent = '';
  for (const id of ['files-error', 'upload-error', 'download-error', 'log-error']) clearError(id);
  for (const id of ['upload-status', 'download-status']) showStatus(id, '');
  updateDetailTitle();
  showTab(state.tab);
}

function closeDetail() {
  stopCommand();
  state.selected = null;
  $('vm-detail').hidden = true;
  $('vm-detail-empty').hidden = false;
}

function updateDetailTitle() {
  const vm = state.vms.get(state.selected);
  const status = vm ? vm.status : '';
  $('vm-detail-title').textContent = `${state.selected}${status ? ` — ${status}` : ''}`;
}

function showTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll('[role="tab"]')) {
    button.setAttribute('aria-selected', String(button.dataset.tab === tab));
  }
  for (const panel of document.querySelectorAll('.tab-panel')) {
    panel.hidden = panel.dataset.panel !== tab;
  }
  if (!state.selected) return;
  if (tab === 'files' && state.cwd === null) openFiles();
  if (tab === 'log') loadLog();
  if (tab === 'terminal') $('terminal-input').focus();
}

// ---------------------------------------------------------------- terminal

function setTerminalStatus(kind, text, exitCode) {
  const node = $('terminal-status');
  node.dataset.state = kind;
  if (exitCode === undefined) delete node.dataset.exitCode;
  else node.dataset.exitCode = String(exitCode);
  node.textContent = text;
}

/** Appends text of one kind (`stdout`, `stderr`, `cmd`, `note`) to the terminal. */
function termWrite(kind, text) {
  if (!text) return;
  const out = $('terminal-output');
  const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 24;
  const last = out.lastElementChild;
  if (last && last.dataset.kind === kind) last.textContent += text;
  else out.append(el('span', { className: kind, dataset: { kind }, testid: `terminal-${kind}` }, text));
  // Keep the page responsive on endless output: drop the oldest text.
  let total = out.textContent.length;
  while (total > MAX_TERMINAL_CHARS && out.firstElementChild && out.firstElementChild !== out.lastElementChild) {
    total -= out.firstElementChild.textContent.length;
    out.firstElementChild.remove();
  }
  if (atBottom) out.scrollTop = out.scrollHeight;
}

/** The output bytes (or text) of a typed frame: `data` first, never both. */
function frameOutput(frame, stream) {
  const base64 = frame.encoding === 'base64';
  if (frame.data) return base64 && frame.dataBytes ? frame.dataBytes : frame.data;
  const text = frame[stream];
  if (!text) return null;
  return base64 && frame[`${stream}Bytes`] ? frame[`${stream}Bytes`] : text;
}

async function runCommand(event) {
  event.preventDefault();
  if (state.exec || !state.selected) return;
  const input = $('terminal-input');
  const line = input.value.trim();
  if (!line) return;
  if (state.history[state.history.length - 1] !== line) {
    state.history.push(line);
    saveHistory();
  }
  state.historyIndex = -1;
  input.value = '';
  clearError('terminal-error');

  const controller = new AbortController();
  state.exec = controller;
  $('terminal-run').disabled = true;
  $('terminal-stop').disabled = false;
  setTerminalStatus('running', 'Running…');
  termWrite('cmd', `$ ${line}\n`);

  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const write = (stream, chunk) => {
    if (chunk === null || chunk === undefined) return;
    termWrite(stream, typeof chunk === 'string' ? chunk : decoders[stream].decode(chunk, { stream: true }));
  };
  const flush = () => {
    for (const stream of ['stdout', 'stderr']) termWrite(stream, decoders[stream].decode());
  };

  const vm = vmHandle(state.selected);
  let exitFrame = null;
  let typed = false;
  let legacyExit = 0;
  let legacyError = '';
  let iterator = null;
  // Rejects when Stop is pressed, so the loop ends at once even if the
  // stream would only notice the abort on its next chunk.
  const stopped = new Promise((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(new DOMException('Stopped', 'AbortError')), { once: true });
  });
  stopped.catch(() => {});
  try {
    const frames = vm.exec({ command: line, shell: $('terminal-shell').value, stdio: 'base64' }, { signal: controller.signal });
    iterator = frames[Symbol.asyncIterator] ? frames[Symbol.asyncIterator]() : frames;
    for (;;) {
      const pending = iterator.next();
      pending.catch(() => {});
      const step = await Promise.race([pending, stopped]);
      if (step.done) break;
      const frame = step.value;
      if (frame.type) typed = true;
      if (frame.type === 'stdout' || frame.type === 'stderr') {
        write(frame.type, frameOutput(frame, frame.type));
      } else if (frame.type === 'started') {
        setTerminalStatus('running', `Running${frame.pid ? ` (pid ${frame.pid})` : ''}…`);
      } else if (frame.type === 'exit') {
        exitFrame = frame;
      } else if (!frame.type) {
        // An older agent: untyped frames, the exit code on the last one.
        write('stdout', frame.encoding === 'base64' && frame.stdoutBytes ? frame.stdoutBytes : frame.stdout || null);
        write('stderr', frame.encoding === 'base64' && frame.stderrBytes ? frame.stderrBytes : frame.stderr || null);
        if (typeof frame.exitCode === 'number') legacyExit = frame.exitCode;
        if (frame.error) legacyError = frame.error;
      }
    }
    flush();
    if (exitFrame) {
      const code = exitFrame.exitCode ?? 0;
      if (exitFrame.error) termWrite('note', `${exitFrame.error}\n`);
      const how = exitFrame.signal ? ` (signal ${exitFrame.signal})` : '';
      termWrite('note', `[exit code ${code}${how}]\n`);
      setTerminalStatus('exited', `Exited with code ${code}${how}.`, code);
    } else if (typed) {
      termWrite('note', '[connection lost; exit status unknown]\n');
      setTerminalStatus('lost', 'The output stream ended before the command finished; its exit status is unknown.');
    } else {
      const code = legacyError && legacyExit === 0 ? 1 : legacyExit;
      if (legacyError) termWrite('note', `${legacyError}\n`);
      termWrite('note', `[exit code ${code}]\n`);
      setTerminalStatus('exited', `Exited with code ${code}.`, code);
    }
  } catch (err) {
    flush();
    if (controller.signal.aborted) {
      termWrite('note', '[stopped]\n');
      setTerminalStatus('stopped', 'Stopped: the page closed the output stream.');
    } else {
      setTerminalStatus('failed', 'The command could not run.');
      showError('terminal-error', err);
    }
  } finally {
    if (iterator && typeof iterator.return === 'function') {
      try {
        const closing = iterator.return();
        if (closing && typeof closing.catch === 'function') closing.catch(() => {});
      } catch (_) {
        // Already closed.
      }
    }
    if (state.exec === controller) state.exec = null;
    $('terminal-run').disabled = false;
    $('terminal-stop').disabled = true;
  }
}

function stopCommand() {
  if (state.exec) state.exec.abort();
}

function terminalKeys(event) {
  const input = event.currentTarget;
  if (event.key === 'c' && event.ctrlKey && state.exec && input.selectionStart === input.selectionEnd) {
    event.preventDefault();
    stopCommand();
    return;
  }
  if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') return;
  if (state.history.length === 0) return;
  event.preventDefault();
  if (state.historyIndex === -1) {
    if (event.key === 'ArrowDown') return;
    state.historyDraft = input.value;
    state.historyIndex = state.history.length;
  }
  state.historyIndex += event.key === 'ArrowUp' ? -1 : 1;
  state.historyIndex = Math.max(0, state.historyIndex);
  if (state.historyIndex >= state.history.length) {
    state.historyIndex = -1;
    input.value = state.historyDraft;
  } else {
    input.value = state.history[state.historyIndex];
  }
  input.setSelectionRange(input.value.length, input.value.length);
}

// ---------------------------------------------------------------- files

/** Opens the file browser at the default user's home directory. */
async function openFiles() {
  const hostname = state.selected;
  let home = '/';
  try {
    const result = await vmHandle(hostname).execBuffered({ command: '/bin/sh', args: ['-c', 'pwd'] });
    const out = typeof result.stdout === 'string' ? result.stdout : new TextDecoder().decode(result.stdout);
    if (result.exitCode === 0 && out.trim().startsWith('/')) home = out.trim();
  } catch (_) {
    // No exec (or a paused VM): start at the root instead.
  }
  if (state.selected !== hostname) return;
  await listDir(home);
}

async function listDir(path) {
  clearError('files-error');
  const hostname = state.selected;
  let entries;
  try {
    entries = await vmHandle(hostname).fs.readDir(path);
  } catch (err) {
    showError('files-error', `Cannot open ${path}: ${describeError(err)}`);
    if (state.cwd === null) {
      state.cwd = path;
      $('files-path').value = path;
      $('dropzone-path').textContent = path;
    }
    return;
  }
  if (state.selected !== hostname) return;
  if (path !== state.cwd) $('file-viewer').hidden = true;
  state.cwd = path;
  $('files-path').value = path;
  $('dropzone-path').textContent = path;
  entries.sort((a, b) => (a.type === 'directory' ? 0 : 1) - (b.type === 'directory' ? 0 : 1) || a.name.localeCompare(b.name));
  $('file-rows').replaceChildren(...entries.map(fileRow));
  $('files-empty').hidden = entries.length > 0;
}

function fileRow(entry) {
  const path = joinPath(state.cwd, entry.name);
  const isDir = entry.type === 'directory';
  const isFile = entry.type === 'file';
  const nameButton = el('button', {
    type: 'button',
    className: `entry-name${isDir || isFile ? '' : ' plain'}`,
    testid: 'file-name',
    dataset: { kind: entry.type },
    title: isDir ? 'Open this folder' : isFile ? 'View this file' : entry.type,
  }, entry.name, isDir ? '/' : '');
  if (isDir) nameButton.addEventListener('click', () => listDir(path));
  if (isFile) nameButton.addEventListener('click', () => viewFile(path, entry));

  const actions = el('div', { className: 'row-actions' });
  if (isFile) {
    const view = el('button', { type: 'button', className: 'small', testid: 'file-view' }, 'View');
    view.addEventListener('click', () => viewFile(path, entry));
    const download = el('button', { type: 'button', className: 'small', testid: 'file-download' }, 'Download');
    download.addEventListener('click', () => downloadFile(path, download));
    actions.append(view, download);
  }
  if (isDir) {
    const zip = el('button', { type: 'button', className: 'small', testid: 'folder-download' }, 'Download .zip');
    zip.addEventListener('click', () => downloadFolder(path));
    actions.append(zip);
  }
  const remove = el('button', { type: 'button', className: 'small danger', testid: 'file-delete' }, 'Delete');
  confirmable(remove, isDir ? 'Delete folder and contents?' : 'Really delete?', () => removeEntry(path, isDir, remove));
  actions.append(remove);

  return el('tr', { testid: 'file-row', dataset: { name: entry.name, type: entry.type } },
    el('td', {}, nameButton),
    el('td', { className: 'num' }, isDir ? '–' : formatBytes(entry.size)),
    el('td', { className: 'num' }, entry.mode || '–'),
    el('td', { className: 'num' }, formatDate(entry.mtime)),
    el('td', {}, actions),
  );
}

/** Opens a typed path: a folder is listed, a file is shown in its folder. */
async function openPath(typed) {
  if (!state.selected) return;
  clearError('files-error');
  const path = resolvePath(typed);
  let entry;
  try {
    entry = await vmHandle(state.selected).fs.stat(path);
  } catch (err) {
    showError('files-error', `Cannot open ${path}: ${describeError(err)}`);
    return;
  }
  if (!entry) {
    showError('files-error', `Nothing exists at ${path}. Check the spelling, or go up a level.`);
    return;
  }
  if (entry.type === 'file') {
    await listDir(parentPath(path));
    await viewFile(path, entry);
    return;
  }
  // Folders, and symlinks, which may lead to one.
  await listDir(path);
}

async function removeEntry(path, recursive, button) {
  clearError('files-error');
  try {
    await busy(button, () => vmHandle(state.selected).fs.remove(path, recursive));
  } catch (err) {
    showError('files-error', `Could not delete ${path}: ${describeError(err)}`);
    return;
  }
  await listDir(state.cwd);
}

async function makeFolder(event) {
  event.preventDefault();
  clearError('files-error');
  const input = $('mkdir-name');
  const name = input.value.trim();
  if (!name) {
    showError('files-error', 'Type a name for the new folder first.');
    return;
  }
  if (name.includes('/') || name === '.' || name === '..') {
    showError('files-error', `“${name}” is not a folder name: it must not contain “/” or be “.” or “..”.`);
    return;
  }
  try {
    await busy($('mkdir-submit'), () => vmHandle(state.selected).fs.mkdir({ path: joinPath(state.cwd, name), recursive: true, mode: '0755' }));
  } catch (err) {
    showError('files-error', `Could not create the folder: ${describeError(err)}`);
    return;
  }
  input.value = '';
  await listDir(state.cwd);
}

async function viewFile(path, entry) {
  clearError('files-error');
  if (entry.size > MAX_VIEW_BYTES) {
    showError('files-error', `${baseName(path)} is ${formatBytes(entry.size)}, too large to show here; download it instead.`);
    return;
  }
  let bytes;
  try {
    bytes = await vmHandle(state.selected).fs.readFile(path);
  } catch (err) {
    showError('files-error', `Could not read ${path}: ${describeError(err)}`);
    return;
  }
  const head = bytes.subarray(0, 8192);
  const binary = head.includes(0);
  $('file-viewer-name').textContent = path;
  $('file-viewer-content').textContent = binary
    ? `This is a binary file (${formatBytes(bytes.length)}); download it to open it.`
    : new TextDecoder().decode(bytes);
  $('file-viewer').hidden = false;
}

async function downloadFile(path, button) {
  clearError('download-error');
  try {
    const bytes = await busy(button, () => vmHandle(state.selected).fs.readFile(path));
    saveBlob(new Blob([bytes], { type: 'application/octet-stream' }), baseName(path));
    showStatus('download-status', `Downloaded ${baseName(path)} (${formatBytes(bytes.length)}).`);
  } catch (err) {
    showError('download-error', `Could not download ${path}: ${describeError(err)}`);
  }
}

/**
 * Progress callbacks report `{ loaded, total }` (or, in older builds of the
 * package, `(done, total)`); both become `[done, total]`.
 */
function progressOf(first, second) {
  if (first && typeof first === 'object') return [first.loaded ?? 0, first.total ?? 0];
  return [Number(first) || 0, Number(second) || 0];
}

function setProgress(kind, done, total, verb) {
  const box = $(`${kind}-progress`);
  box.hidden = false;
  const bar = box.querySelector('progress');
  if (total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
    $(`${kind}-progress-label`).textContent = `${verb} ${formatBytes(done)} of ${formatBytes(total)} (${Math.floor((100 * done) / total)}%)`;
  } else {
    bar.removeAttribute('value');
    $(`${kind}-progress-label`).textContent = `${verb} ${formatBytes(done)}…`;
  }
}

/** Uploads files (a FileList, File objects or `{ path, data }` records) into the current folder. */
async function uploadFiles(files) {
  if (!files || files.length === 0) return;
  if (state.upload) {
    showError('upload-error', 'Another upload is still running; wait for it or cancel it first.');
    return;
  }
  clearError('upload-error');
  showStatus('upload-status', '');
  const dest = state.cwd;
  const count = files.length;
  const controller = new AbortController();
  state.upload = controller;
  setProgress('upload', 0, 0, 'Preparing');
  try {
    const result = await vmHandle(state.selected).fs.uploadFolder(dest, files, {
      onProgress: (a, b) => setProgress('upload', ...progressOf(a, b), 'Uploaded'),
      signal: controller.signal,
    });
    const uploaded = result && typeof result.files === 'number' ? result.files : count;
    showStatus('upload-status', `Uploaded ${uploaded} file${uploaded === 1 ? '' : 's'} into ${dest}.`);
  } catch (err) {
    showError('upload-error', controller.signal.aborted ? 'Upload cancelled.' : `Upload failed: ${describeError(err)}`);
  } finally {
    state.upload = null;
    $('upload-progress').hidden = true;
  }
  if (state.cwd === dest) await listDir(dest);
}

async function downloadFolder(path) {
  if (state.download) {
    showError('download-error', 'Another download is still running; wait for it or cancel it first.');
    return;
  }
  clearError('download-error');
  showStatus('download-status', '');
  const controller = new AbortController();
  state.download = controller;
  setProgress('download', 0, 0, 'Downloading');
  try {
    const files = await vmHandle(state.selected).fs.downloadFolder(path, {
      onProgress: (a, b) => setProgress('download', ...progressOf(a, b), 'Downloaded'),
      signal: controller.signal,
    });
    const root = baseName(path) || 'root';
    const entries = files.map((f) => {
      const dir = f.type === 'directory' || f.data === null || f.data === undefined || f.path.endsWith('/');
      return {
        name: `${root}/${f.path.replace(/^\/+/, '')}`,
        data: dir ? new Uint8Array(0) : f.data,
        mode: typeof f.mode === 'string' ? parseInt(f.mode, 8) : f.mode,
        mtime: toDate(f.mtime),
        dir,
      };
    });
    const bytes = entries.reduce((sum, e) => sum + e.data.length, 0);
    saveBlob(buildZip(entries), `${root}.zip`);
    const fileCount = entries.filter((e) => !e.dir).length;
    showStatus('download-status', `Downloaded ${path} as ${root}.zip: ${fileCount} file${fileCount === 1 ? '' : 's'}, ${formatBytes(bytes)}.`);
  } catch (err) {
    showError('download-error', controller.signal.aborted ? 'Download cancelled.' : `Could not download ${path}: ${describeError(err)}`);
  } finally {
    state.download = null;
    $('download-progress').hidden = true;
  }
}

/** Turns dropped files and folders into `{ path, data: File, mtime }` records. */
async function droppedRecords(dataTransfer) {
  const entries = [...dataTransfer.items]
    .map((item) => (typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (entries.length === 0) return [...dataTransfer.files];
  const records = [];
  const readFile = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  const readBatch = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));
  const walk = async (entry, prefix) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile) {
      const file = await readFile(entry);
      records.push({ path, data: file, mtime: new Date(file.lastModified) });
      return;
    }
    if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries returns the listing in batches until an empty one.
      for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
        for (const child of batch) await walk(child, path);
      }
    }
  };
  for (const entry of entries) await walk(entry, '');
  return records;
}

// ---------------------------------------------------------------- serial log

async function loadLog() {
  clearError('log-error');
  const hostname = state.selected;
  try {
    const logs = await busy($('log-refresh'), () => vmHandle(hostname).logs());
    if (state.selected !== hostname) return;
    const out = $('serial-log');
    out.textContent = logs.content || '';
    out.scrollTop = out.scrollHeight;
  } catch (err) {
    showError('log-error', `Could not read the serial log: ${describeError(err)}`);
  }
}

// ---------------------------------------------------------------- secrets

async function loadSecrets() {
  clearError('secrets-error');
  try {
    state.secrets = await state.client.secrets.list();
  } catch (err) {
    showError('secrets-error', `Could not list secrets: ${describeError(err)}`);
    return;
  }
  state.secrets.sort((a, b) => a.name.localeCompare(b.name));
  $('secret-list').replaceChildren(...state.secrets.map(secretItem));
  $('secrets-empty').hidden = state.secrets.length > 0;

  const picks = $('create-vm-secrets');
  const chosen = new Set([...picks.querySelectorAll('input:checked')].map((c) => c.value));
  picks.replaceChildren(
    ...(state.secrets.length
      ? state.secrets.map((s) =>
          el('label', {}, el('input', { type: 'checkbox', value: s.name, checked: chosen.has(s.name), testid: 'create-vm-secret' }), s.name))
      : [el('p', { className: 'empty' }, 'No secrets yet; create one in the Secrets panel.')]),
  );
}

function secretItem(secret) {
  const replace = el('button', { type: 'button', className: 'small', testid: 'secret-edit' }, 'Replace value');
  replace.addEventListener('click', () => editSecret(secret));
  const remove = el('button', { type: 'button', className: 'small danger', testid: 'secret-delete' }, 'Delete');
  confirmable(remove, 'Really delete?', async () => {
    clearError('secrets-error');
    try {
      await busy(remove, () => state.client.secrets.delete(secret.name));
    } catch (err) {
      showError('secrets-error', `Could not delete ${secret.name}: ${describeError(err)}`);
      return;
    }
    if ($('secret-name').readOnly && $('secret-name').value === secret.name) resetSecretForm();
    await loadSecrets();
  });
  const facts = [`${formatBytes(secret.size)}`, `mode ${secret.permissions || '–'}`];
  if (secret.modifiedAt) facts.push(`changed ${formatDate(secret.modifiedAt)}`);
  return el('li', { testid: 'secret-row', dataset: { name: secret.name } },
    el('span', { className: 'name' }, secret.name),
    el('span', { className: 'facts' }, facts.join(' · ')),
    el('span', { className: 'buttons' }, replace, remove),
  );
}

function editSecret(secret) {
  const name = $('secret-name');
  name.value = secret.name;
  name.readOnly = true;
  $('secret-permissions').value = secret.permissions || '0600';
  $('secret-value').value = '';
  $('secret-form-title').textContent = `Replace the value of ${secret.name}`;
  $('secret-submit').textContent = 'Save new value';
  $('secret-cancel').hidden = false;
  clearError('secret-form-error');
  showStatus('secret-status', '');
  $('secret-value').focus();
}

function resetSecretForm() {
  const name = $('secret-name');
  name.readOnly = false;
  name.value = '';
  $('secret-value').value = '';
  $('secret-permissions').value = '0600';
  $('secret-form-title').textContent = 'New secret';
  $('secret-submit').textContent = 'Create secret';
  $('secret-cancel').hidden = true;
}

async function saveSecret(event) {
  event.preventDefault();
  clearError('secret-form-error');
  showStatus('secret-status', '');
  const name = $('secret-name').value.trim();
  const data = $('secret-value').value;
  const permissions = $('secret-permissions').value.trim() || '0600';
  const updating = $('secret-name').readOnly;
  if (!name) {
    showError('secret-form-error', 'Give the secret a name; it becomes the file name in the VM.');
    return;
  }
  if (name.includes('/') || name === '.' || name === '..') {
    showError('secret-form-error', `“${name}” cannot be a file name: it must not contain “/” or be “.” or “..”.`);
    return;
  }
  if (!data) {
    showError('secret-form-error', 'Enter the secret value.');
    return;
  }
  if (!/^[0-7]{3,4}$/.test(permissions)) {
    showError('secret-form-error', `File permissions must be octal, such as 0600 or 0644; “${permissions}” is not.`);
    return;
  }
  if (!updating && state.secrets.some((s) => s.name === name)) {
    showError('secret-form-error', `A secret named “${name}” already exists. Use “Replace value” in the list to change it.`);
    return;
  }
  try {
    await busy($('secret-submit'), () =>
      updating
        ? state.client.secrets.patch(name, { data, permissions })
        : state.client.secrets.create({ name, data, permissions }));
  } catch (err) {
    showError('secret-form-error', err);
    return;
  }
  resetSecretForm();
  showStatus('secret-status', updating ? `Saved a new value for ${name}.` : `Created secret ${name}.`);
  await loadSecrets();
}

// ---------------------------------------------------------------- wiring

function wireForms() {
  $('create-vm-form').addEventListener('submit', createVM);
  $('create-vm-group').addEventListener('change', () => applyGroupLimits(true));

  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener('click', () => showTab(tab.dataset.tab));
  }

  $('terminal-form').addEventListener('submit', runCommand);
  $('terminal-stop').addEventListener('click', stopCommand);
  $('terminal-clear').addEventListener('click', () => $('terminal-output').replaceChildren());
  $('terminal-input').addEventListener('keydown', terminalKeys);

  $('files-path-form').addEventListener('submit', (event) => {
    event.preventDefault();
    openPath($('files-path').value);
  });
  $('files-up').addEventListener('click', () => state.cwd && listDir(parentPath(state.cwd)));
  $('files-refresh').addEventListener('click', () => state.cwd && listDir(state.cwd));
  $('mkdir-form').addEventListener('submit', makeFolder);
  $('file-viewer-close').addEventListener('click', () => {
    $('file-viewer').hidden = true;
  });
  for (const id of ['upload-files-input', 'upload-folder-input']) {
    const input = $(id);
    input.addEventListener('change', async () => {
      const files = [...input.files];
      input.value = '';
      await uploadFiles(files);
    });
  }
  $('upload-cancel').addEventListener('click', () => state.upload?.abort());
  $('download-cancel').addEventListener('click', () => state.download?.abort());
  $('download-cwd').addEventListener('click', () => state.cwd && downloadFolder(state.cwd));

  const zone = $('dropzone');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (!state.selected || state.cwd === null) return;
    clearError('upload-error');
    try {
      await uploadFiles(await droppedRecords(event.dataTransfer));
    } catch (err) {
      showError('upload-error', `Could not read the dropped files: ${describeError(err)}`);
    }
  });
  // A drop that misses the zone must not navigate away from the page.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());

  $('log-refresh').addEventListener('click', loadLog);

  $('secret-form').addEventListener('submit', saveSecret);
  $('secret-cancel').addEventListener('click', () => {
    resetSecretForm();
    clearError('secret-form-error');
  });
}

start();
