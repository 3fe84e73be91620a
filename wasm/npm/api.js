// The public classes of the package. They only shape calls: every request,
// check and conversion happens in the WebAssembly module (`Core`, built from
// wasm/src/api.rs). Nothing here runs at load time, so the runtime-specific
// entry (node.js, browser.js, workerd.js, deno.js) can instantiate the module
// before any constructor is called.

import { Core, resolveTransport as resolveCore } from './slicer_wasm.js';
import { SlicerAPIError, SecretExistsError } from './errors.js';

export { SlicerAPIError, SecretExistsError };

/** Output as text (the daemon's default). */
export const ExecStdioText = 'text';
/** Output as base64, decoded into `…Bytes` fields. */
export const ExecStdioBase64 = 'base64';
/** The Go SDK's "omit the uid" sentinel; sent literally if used here. */
export const NonRootUser = 0xffffffff;

/** `n` gibibytes in bytes. */
export function GiB(n) {
  return n * 1024 * 1024 * 1024;
}

/** `n` mebibytes in bytes. */
export function MiB(n) {
  return n * 1024 * 1024;
}

/** Classifies a base URL: a UNIX socket path or an http(s) URL. */
export function resolveTransport(baseURL) {
  const r = resolveCore(baseURL);
  return r.kind === 'net' ? { kind: 'net', url: new URL(r.url) } : r;
}

function readEnv(name) {
  const g = globalThis;
  if (g.process && g.process.env && typeof g.process.env[name] === 'string') {
    return g.process.env[name];
  }
  if (g.Deno && g.Deno.env) {
    try {
      return g.Deno.env.get(name);
    } catch (_) {
      // No --allow-env: treat as unset.
      return undefined;
    }
  }
  return undefined;
}

function readonly(target, values) {
  for (const [key, value] of Object.entries(values)) {
    Object.defineProperty(target, key, { value, enumerable: true, writable: false });
  }
}

// Drains a Rust stream; leaving early (break, return, throw) closes it, which
// aborts the request.
async function* drain(pending) {
  const stream = await pending;
  try {
    for (;;) {
      const item = await stream.next();
      if (item === undefined) return;
      yield item;
    }
  } finally {
    stream.close();
    stream.free();
  }
}

/** A client of the Slicer REST API. */
export class SlicerClient {
  #core;

  constructor(opts) {
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('SlicerClient needs an options object with a baseURL');
    }
    this.#core = new Core(opts);
    Object.defineProperty(this, 'transport', { value: this.#core, enumerable: false });
    readonly(this, {
      hostGroups: new HostGroupsAPI(this.#core),
      vms: new VMsAPI(this.#core),
      secrets: new SecretsAPI(this.#core),
    });
  }

  /** A client from SLICER_URL and SLICER_TOKEN, overridden by `overrides`. */
  static fromEnv(overrides = {}) {
    const baseURL = overrides.baseURL ?? readEnv('SLICER_URL');
    if (!baseURL) {
      throw new Error('SlicerClient.fromEnv: SLICER_URL is not set and no baseURL was given');
    }
    const token = overrides.token ?? readEnv('SLICER_TOKEN');
    return new SlicerClient({ ...overrides, baseURL, token });
  }

  getInfo(opts) {
    return this.#core.getInfo(opts);
  }
}

/** `client.hostGroups`. */
export class HostGroupsAPI {
  #core;

  constructor(core) {
    this.#core = core;
  }

  list(opts) {
    return this.#core.hostGroupsList(opts);
  }

  async find(name, opts) {
    const groups = await this.#core.hostGroupsList(opts);
    return groups.find((g) => g.name === name);
  }

  listVMs(name, opts) {
    return this.#core.hostGroupNodes(name, opts);
  }
}

/** `client.vms`. */
export class VMsAPI {
  #core;

  constructor(core) {
    this.#core = core;
  }

  async create(hostGroup, req = {}, opts) {
    const res = await this.#core.vmsCreate(hostGroup, req, opts);
    return new VM(this.#core, {
      hostname: res.hostname,
      hostGroup: res.hostGroup || hostGroup,
      ip: res.ip,
      createdAt: res.createdAt,
      arch: res.arch,
    });
  }

  createRaw(hostGroup, req = {}, opts) {
    return this.#core.vmsCreate(hostGroup, req, opts);
  }

  attach(hostGroup, hostname) {
    return new VM(this.#core, { hostname, hostGroup });
  }

  async get(hostname, opts) {
    const nodes = await this.#core.vmsList(opts);
    const node = nodes.find((n) => n.hostname === hostname);
    if (!node) return undefined;
    return new VM(this.#core, {
      hostname: node.hostname,
      hostGroup: node.hostGroup ?? '',
      ip: node.ip,
      createdAt: node.createdAt,
      arch: node.arch,
    });
  }

  list(opts) {
    return this.#core.vmsList(opts);
  }

  stats(opts) {
    return this.#core.vmsStats(opts);
  }
}

/** `client.secrets`. */
export class SecretsAPI {
  #core;

  constructor(core) {
    this.#core = core;
  }

  list(opts) {
    return this.#core.secretsList(opts);
  }

  create(req, opts) {
    return this.#core.secretsCreate(req, opts);
  }

  patch(name, req, opts) {
    return this.#core.secretsPatch(name, req, opts);
  }

  delete(name, opts) {
    return this.#core.secretsDelete(name, opts);
  }
}

/** A handle on one VM; no request is made to build it. */
export class VM {
  #core;

  constructor(transport, init) {
    if (!(transport instanceof Core)) {
      throw new TypeError('new VM(transport, init): pass client.transport as the transport');
    }
    if (!init || typeof init.hostname !== 'string' || init.hostname === '') {
      throw new TypeError('new VM(transport, init): init.hostname must be a non-empty string');
    }
    this.#core = transport;
    const fields = { hostname: init.hostname, hostGroup: init.hostGroup ?? '' };
    for (const key of ['ip', 'createdAt', 'arch']) {
      if (init[key] !== undefined) fields[key] = init[key];
    }
    fields.fs = new VMFileSystem(transport, init.hostname);
    fields.bg = new VMBg(transport, init.hostname);
    readonly(this, fields);
  }

  delete(opts) {
    return this.#core.vmDelete(this.hostGroup, this.hostname, opts);
  }

  health(opts) {
    return this.#core.vmHealth(this.hostname, opts);
  }

  logs(opts) {
    return this.#core.vmLogs(this.hostname, opts);
  }

  waitForAgent(opts) {
    return this.#core.vmWait(this.hostname, false, opts);
  }

  waitForUserdata(opts) {
    return this.#core.vmWait(this.hostname, true, opts);
  }

  shutdown(req, opts) {
    return this.#core.vmShutdown(this.hostname, req, opts);
  }

  pause(opts) {
    return this.#core.vmPower(this.hostname, 'pause', opts);
  }

  resume(opts) {
    return this.#core.vmPower(this.hostname, 'resume', opts);
  }

  suspend(opts) {
    return this.#core.vmPower(this.hostname, 'suspend', opts);
  }

  restore(opts) {
    return this.#core.vmPower(this.hostname, 'restore', opts);
  }

  relaunch(opts) {
    return this.#core.vmPower(this.hostname, 'relaunch', opts);
  }

  async forward(_specs, _options) {
    throw new Error(
      'vm.forward is not supported in this runtime: it needs local listeners and a WebSocket ' +
        'with an Authorization header, which browsers, workers and Deno-style sandboxes cannot ' +
        'provide. Use the Node SDK or a relay on a server.',
    );
  }

  async *exec(req = {}, opts) {
    yield* drain(this.#core.exec(this.hostname, req, opts));
  }

  execBuffered(req = {}, opts) {
    return this.#core.execBuffered(this.hostname, req, opts);
  }
}

/** `vm.fs`. */
export class VMFileSystem {
  #core;
  #hostname;

  constructor(core, hostname) {
    this.#core = core;
    this.#hostname = hostname;
  }

  readDir(path, opts) {
    return this.#core.fsReadDir(this.#hostname, path, opts);
  }

  stat(path, opts) {
    return this.#core.fsStat(this.#hostname, path, opts);
  }

  async exists(path, opts) {
    return (await this.#core.fsStat(this.#hostname, path, opts)) !== null;
  }

  mkdir(req, opts) {
    return this.#core.fsMkdir(this.#hostname, req, opts);
  }

  remove(path, recursive = false, opts) {
    return this.#core.fsRemove(this.#hostname, path, recursive, opts);
  }

  readFile(path, opts) {
    return this.#core.fsReadFile(this.#hostname, path, opts);
  }

  writeFile(path, content, opts) {
    return this.#core.fsWriteFile(this.#hostname, path, content, opts);
  }

  tarTo(path, tar, opts) {
    return this.#core.fsTarTo(this.#hostname, path, tar, opts);
  }

  tarFrom(path, opts) {
    return this.#core.fsTarFrom(this.#hostname, path, opts);
  }

  uploadFolder(remotePath, files, opts) {
    return this.#core.fsUploadFolder(this.#hostname, remotePath, files, opts);
  }

  downloadFolder(remotePath, opts) {
    return this.#core.fsDownloadFolder(this.#hostname, remotePath, opts);
  }

  async *watch(req, opts) {
    yield* drain(this.#core.fsWatch(this.#hostname, req, opts));
  }
}

/** `vm.bg`. */
export class VMBg {
  #core;
  #hostname;

  constructor(core, hostname) {
    this.#core = core;
    this.#hostname = hostname;
  }

  exec(req, opts) {
    return this.#core.bgExec(this.#hostname, req, opts);
  }

  list(opts) {
    return this.#core.bgList(this.#hostname, opts);
  }

  info(execId, opts) {
    return this.#core.bgInfo(this.#hostname, execId, opts);
  }

  async *logs(execId, opts) {
    yield* drain(this.#core.bgLogs(this.#hostname, execId, opts));
  }

  kill(execId, opts) {
    return this.#core.bgKill(this.#hostname, execId, opts);
  }

  wait(execId, timeoutSec = 0, opts) {
    return this.#core.bgWait(this.#hostname, execId, timeoutSec, opts);
  }

  remove(execId, opts) {
    return this.#core.bgRemove(this.#hostname, execId, opts);
  }
}
