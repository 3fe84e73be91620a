// Typings of the slicer-wasm package: the official Slicer TypeScript SDK's
// API for browsers, workers, Node and Deno. Bytes are Uint8Array (a Node
// Buffer where Buffer exists); every call takes `signal?: AbortSignal`.

/** Bytes as results carry them: a `Uint8Array`, a `Buffer` under Node. */
export type Bytes = Uint8Array;

/** Bytes as calls accept them; a string is sent as UTF-8. */
export type BytesInput = Uint8Array | ArrayBuffer | string;

/** Options every call accepts. */
export interface CallOptions {
  /** Aborts the call: the fetch is cancelled and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `new SlicerClient`. */
export interface SlicerClientOptions {
  /** `http(s)://host[:port][/prefix]`; a UNIX socket path needs `fetch`. */
  baseURL: string;
  /** Bearer token; omitted when empty. Keep it out of browsers: use a relay. */
  token?: string;
  /** `User-Agent`; by default `slicer-sdk-wasm/<version>` on Node and Deno, none in browsers. */
  userAgent?: string;
  /** A `fetch` to use instead of the global one (a relay, a socket-bound fetch, a test double). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Aborts every call of this client. */
  signal?: AbortSignal;
}

/** What `resolveTransport` decides about a base URL. */
export type Transport = { kind: 'socket'; socketPath: string } | { kind: 'net'; url: URL };

/** Classifies a base URL by the SDKs' shared rules; a blank one throws. */
export function resolveTransport(baseURL: string): Transport;

/** `n` gibibytes in bytes. */
export function GiB(n: number): number;
/** `n` mebibytes in bytes. */
export function MiB(n: number): number;

/** The Go SDK's "omit the uid" sentinel (0xffffffff); sent literally here. */
export const NonRootUser: number;
/** Exec output as text. */
export const ExecStdioText: 'text';
/** Exec output as base64 (decoded into `…Bytes`). */
export const ExecStdioBase64: 'base64';

/** Any non-2xx answer from the Slicer API. */
export class SlicerAPIError extends Error {
  readonly name: 'SlicerAPIError';
  /** HTTP status. */
  readonly status: number;
  /** Request method. */
  readonly method: string;
  /** Request path (without the query string). */
  readonly path: string;
  /** Raw response body. */
  readonly body: string;
  constructor(status: number, method: string, path: string, body: string);
}

/** `secrets.create` named a secret that exists already (HTTP 409). */
export class SecretExistsError extends Error {
  readonly name: 'SecretExistsError';
  constructor(name: string);
}

/** `GET /info`, raw (wire key names). */
export interface SlicerInfo {
  version?: string;
  git_commit?: string;
  platform?: string;
  arch?: string;
}

/** A host group. */
export interface HostGroup {
  name: string;
  count: number;
  ramBytes: number;
  cpus: number;
  arch: string;
  gpuCount?: number;
}

/** Tag filters of VM listings. */
export interface ListOptions extends CallOptions {
  /** VMs with exactly this tag. */
  tag?: string;
  /** VMs with a tag starting with this. Not combinable with `tag`. */
  tagPrefix?: string;
}

/** A VM as listed. */
export interface VMInfo {
  hostname: string;
  ip: string;
  createdAt: string;
  hostGroup?: string;
  ramBytes?: number;
  cpus?: number;
  arch?: string;
  tags?: string[];
  status?: string;
  persistent?: boolean;
}

/** Body of a VM create. */
export interface CreateVMRequest {
  ramBytes?: number;
  cpus?: number;
  gpuCount?: number;
  persistent?: boolean;
  diskImage?: string;
  importUser?: string;
  sshKeys?: string[];
  userdata?: string;
  ip?: string;
  tags?: string[];
  secrets?: string[];
}

/** Waiting options of a VM create. */
export interface CreateVMOptions extends CallOptions {
  /** Hold the answer until the agent is up or userdata has run. */
  wait?: 'agent' | 'userdata';
  /** Bound of that wait, seconds; the daemon answers 408 and removes the VM past it. */
  waitTimeoutSec?: number;
}

/** Answer of a VM create. */
export interface CreateVMResponse {
  hostname: string;
  ip: string;
  createdAt: string;
  hostGroup?: string;
  arch?: string;
}

/** Metering snapshot, raw (camelCase on the wire). */
export interface VMSnapshot {
  hostname: string;
  arch: string;
  timestamp: string | null;
  uptime: string;
  totalCpus: number;
  totalMemory: number;
  memoryUsed: number;
  memoryAvailable: number;
  memoryUsedPercent: number;
  loadAvg1: number;
  loadAvg5: number;
  loadAvg15: number;
  diskReadTotal: number;
  diskWriteTotal: number;
  networkReadTotal: number;
  networkWriteTotal: number;
  diskIOInflight: number;
  openConnections: number;
  openFiles: number;
  entropy: number;
  diskSpaceTotal: number;
  diskSpaceUsed: number;
  diskSpaceFree: number;
  diskSpaceUsedPercent: number;
}

/** One VM's statistics. */
export interface VMStat {
  hostname: string;
  ip: string;
  createdAt: string;
  snapshot?: VMSnapshot | null;
  error?: string;
}

/** Guest agent health; uptimes in nanoseconds. */
export interface AgentHealth {
  hostname?: string;
  agentUptime?: number;
  agentVersion?: string;
  systemUptime?: number;
  userdataRan?: boolean;
}

/** Serial-console log, raw. */
export interface VMLogs {
  hostname: string;
  lines: number;
  content: string;
}

/** Polling options of `waitForAgent` / `waitForUserdata`. */
export interface WaitOptions extends CallOptions {
  /** Deadline, ms (120000). */
  timeoutMs?: number;
  /** Poll interval, ms (500). */
  intervalMs?: number;
}

/** Body of a shutdown. */
export interface ShutdownRequest {
  /** The daemon's default when unset. */
  action?: 'shutdown' | 'reboot';
}

/** Exec output encoding. */
export type ExecStdio = 'text' | 'base64';

/** A command to run. */
export interface ExecRequest {
  /** Program, or the script when `shell` is set. Required. */
  command?: string;
  args?: string[];
  /** `KEY=VALUE` entries. */
  env?: string[];
  /** Sent when set, 0 (root) included; absent lets the agent pick its default user. */
  uid?: number;
  gid?: number;
  cwd?: string;
  /** Interpreter such as `/bin/bash`: runs `<shell> -lc "<command>"`. */
  shell?: string;
  permissions?: string;
  /** Sent only when set; the daemon's default is text. */
  stdio?: ExecStdio;
  /** Standard input, sent whole before output is read (no streaming in these runtimes). */
  stdin?: BytesInput;
}

/** One frame of exec or background-log output, wire keys in camelCase. */
export interface ExecFrame {
  timestamp?: string;
  /** `started`, `stdout`, `stderr`, `exit`, `gap`; absent on legacy frames. */
  type?: string;
  pid?: number;
  encoding?: ExecStdio;
  data?: string;
  startedAt?: string;
  endedAt?: string;
  signal?: string;
  stdout?: string;
  stderr?: string;
  /** 0 on every frame but the final one. */
  exitCode?: number;
  error?: string;
  /** Decoded `data` of a base64 frame. */
  dataBytes?: Bytes;
  /** Decoded `stdout` of a base64 frame. */
  stdoutBytes?: Bytes;
  /** Decoded `stderr` of a base64 frame. */
  stderrBytes?: Bytes;
}

/** A buffered run with text output. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  encoding?: ExecStdio;
  pid?: number;
  startedAt?: string;
  endedAt?: string;
  signal?: string;
  error?: string;
}

/** A buffered run with byte output. */
export interface ExecResultBinary {
  stdout: Bytes;
  stderr: Bytes;
  exitCode: number;
  encoding: 'base64';
  pid?: number;
  startedAt?: string;
  endedAt?: string;
  signal?: string;
  error?: string;
}

/** A background command (always base64 logs). */
export interface BgExecRequest {
  command: string;
  args?: string[];
  env?: string[];
  uid?: number;
  gid?: number;
  cwd?: string;
  shell?: string;
  /** Ring buffer size, bytes (1 MiB by default). */
  ringBytes?: number;
}

/** Answer of a background launch. */
export interface BgExecResponse {
  execId: string;
  pid: number;
  startedAt: string;
  ringBytes: number;
}

/** A background process. */
export interface BgExecInfo {
  execId: string;
  pid: number;
  command: string;
  startedAt: string;
  running: boolean;
  bytesWritten: number;
  bytesDropped: number;
  nextId: number;
  ringBytes: number;
  args?: string[];
  cwd?: string;
  uid?: number;
  exitCode?: number;
  signal?: string;
  endedAt?: string;
}

/** Options of `bg.logs`. */
export interface BgLogOptions extends CallOptions {
  /** Stream live frames until the process exits. */
  follow?: boolean;
  /** First frame id to return (sent when > 0). */
  fromId?: number;
}

/** Options of `bg.kill`. A string `signal` names the Unix signal; an AbortSignal aborts the call. */
export interface BgKillOptions {
  signal?: 'TERM' | 'KILL' | 'INT' | 'HUP' | 'QUIT' | 'USR1' | 'USR2' | AbortSignal;
  /** TERM only: escalate to KILL after this many ms. */
  graceMs?: number;
}

/** Answer of `bg.kill`. */
export interface BgKillResponse {
  execId: string;
  pid: number;
  running: boolean;
  signalSent: string;
}

/** Answer of `bg.wait`; a timeout is a normal result. */
export interface BgWaitExitResponse {
  execId: string;
  running: boolean;
  timedOut: boolean;
  exitCode?: number;
  signal?: string;
  endedAt?: string;
}

/** Answer of `bg.remove`. */
export interface BgDeleteResponse {
  execId: string;
  reaped: boolean;
}

/** A directory entry, raw. */
export interface FSEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | string;
  size: number;
  mtime: string;
  mode: string;
}

/** Body of `fs.mkdir`. */
export interface FSMkdirRequest {
  path: string;
  recursive?: boolean;
  /** Octal, such as `0755`. */
  mode?: string;
}

/** Ownership and mode of `fs.writeFile`. */
export interface WriteFileOptions extends CallOptions {
  uid?: number;
  gid?: number;
  /** Octal, such as `0644`. */
  permissions?: string;
}

/** A watch event type. */
export type FSWatchEventType = 'create' | 'write' | 'remove' | 'rename' | 'chmod';

/** What `fs.watch` watches. */
export interface FSWatchRequest {
  paths: string[];
  patterns?: string[];
  events?: FSWatchEventType[];
  /** Sent when non-zero. */
  uid?: number;
  recursive?: boolean;
  oneShot?: boolean;
  /** Go duration such as `200ms`. */
  debounce?: string;
  /** Go duration such as `30s`. */
  timeout?: string;
  maxEvents?: number;
  /** Sent as the `Last-Event-ID` header. */
  lastEventId?: string;
}

/** One filesystem event. */
export interface FSWatchEvent {
  id: number;
  type: FSWatchEventType | string;
  path: string;
  timestamp: string;
  size: number;
  isDir: boolean;
  message?: string;
}

/** A tar to upload: bytes, a Blob, or chunks. */
export type TarInput = BytesInput | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** A transfer's progress. */
export interface TransferProgress {
  /** `upload`: archive bytes handed to fetch (fetch reports no finer progress); `download`: bytes read. */
  phase: 'upload' | 'download';
  loaded: number;
  /** Absent when the server sent no Content-Length (or CORS hides it). */
  total?: number;
}

/** Options of the folder transfers. */
export interface FolderTransferOptions extends CallOptions {
  onProgress?: (progress: TransferProgress) => void;
}

/** A file of `uploadFolder`: a path below the destination and its content. */
export interface FolderFile {
  /** Relative `/`-separated path, such as `site/index.html`. */
  path: string;
  data: BytesInput | Blob;
  /** Number (`0o755`) or octal text (`'0755'`); 0644 by default. */
  mode?: number | string;
  /** Seconds since the epoch, or a Date. */
  mtime?: number | Date;
}

/** What `uploadFolder` accepts: a FileList, Files (their `webkitRelativePath`, else name), or records. */
export type FolderInput = FileList | File | ArrayLike<File | FolderFile> | Iterable<File | FolderFile>;

/** Summary of an upload. */
export interface UploadFolderResult {
  files: number;
  archiveBytes: number;
}

/** One entry of a downloaded folder. */
export interface FolderEntry {
  path: string;
  type: 'file' | 'directory';
  /** Empty for directories. */
  data: Bytes;
  /** Permission bits. */
  mode: number;
  /** Seconds since the epoch; 0 when unknown. */
  mtime: number;
}

/** Secret metadata. */
export interface Secret {
  name: string;
  size: number;
  permissions: string;
  uid?: number;
  gid?: number;
  modifiedAt?: string;
}

/** A secret to create; `data` travels as base64. */
export interface CreateSecretRequest {
  name: string;
  data: BytesInput;
  permissions?: string;
  uid?: number;
  gid?: number;
}

/** A secret update; `data` is required and always sent. */
export interface UpdateSecretRequest {
  data: BytesInput;
  permissions?: string;
  uid?: number;
  gid?: number;
}

/** Initial fields of a VM handle. */
export interface VMInit {
  hostname: string;
  hostGroup: string;
  ip?: string;
  createdAt?: string;
  arch?: string;
}

/** Options of `vm.forward` (which rejects in these runtimes). */
export interface ForwarderOptions {
  clientId?: string;
  dialTimeoutMs?: number;
  log?: (msg: string) => void;
}

/** The engine behind a client (`client.transport`); only for `new VM(...)`. */
export interface TransportClient {
  readonly baseURL: string;
}

/** A client of the Slicer REST API. Constructing it sends nothing. */
export class SlicerClient {
  constructor(opts: SlicerClientOptions);
  /** From `SLICER_URL` and `SLICER_TOKEN` (process.env or Deno.env), overridden by `overrides`. */
  static fromEnv(overrides?: Partial<SlicerClientOptions>): SlicerClient;
  /** `GET /info`. */
  getInfo(opts?: CallOptions): Promise<SlicerInfo>;
  readonly hostGroups: HostGroupsAPI;
  readonly vms: VMsAPI;
  readonly secrets: SecretsAPI;
  readonly transport: TransportClient;
}

/** `client.hostGroups`. */
export class HostGroupsAPI {
  private constructor();
  /** `GET /hostgroup`. */
  list(opts?: CallOptions): Promise<HostGroup[]>;
  /** The group named exactly `name`. */
  find(name: string, opts?: CallOptions): Promise<HostGroup | undefined>;
  /** `GET /hostgroup/{name}/nodes`. */
  listVMs(name: string, opts?: ListOptions): Promise<VMInfo[]>;
}

/** `client.vms`. */
export class VMsAPI {
  private constructor();
  /** Creates a VM and returns its handle. */
  create(hostGroup: string, req?: CreateVMRequest, opts?: CreateVMOptions): Promise<VM>;
  /** Creates a VM and returns the daemon's answer. */
  createRaw(hostGroup: string, req?: CreateVMRequest, opts?: CreateVMOptions): Promise<CreateVMResponse>;
  /** A handle on an existing VM; no request. */
  attach(hostGroup: string, hostname: string): VM;
  /** The VM named exactly `hostname`, from the listing. */
  get(hostname: string, opts?: CallOptions): Promise<VM | undefined>;
  /** `GET /nodes`. */
  list(opts?: ListOptions): Promise<VMInfo[]>;
  /** `GET /nodes/stats`. */
  stats(opts?: CallOptions): Promise<VMStat[]>;
}

/** `client.secrets`. */
export class SecretsAPI {
  private constructor();
  list(opts?: CallOptions): Promise<Secret[]>;
  /** Rejects with `SecretExistsError` when the name is taken. */
  create(req: CreateSecretRequest, opts?: CallOptions): Promise<void>;
  patch(name: string, req: UpdateSecretRequest, opts?: CallOptions): Promise<void>;
  delete(name: string, opts?: CallOptions): Promise<void>;
}

/** A handle on one VM. Its fields are never refreshed. */
export class VM {
  constructor(transport: TransportClient, init: VMInit);
  readonly hostname: string;
  readonly hostGroup: string;
  readonly ip?: string;
  readonly createdAt?: string;
  readonly arch?: string;
  readonly fs: VMFileSystem;
  readonly bg: VMBg;
  delete(opts?: CallOptions): Promise<void>;
  health(opts?: CallOptions): Promise<AgentHealth>;
  logs(opts?: CallOptions): Promise<VMLogs>;
  /** Polls `health()` until it succeeds; the deadline rejects with an Error. */
  waitForAgent(opts?: WaitOptions): Promise<AgentHealth>;
  /** Polls until `userdataRan`. */
  waitForUserdata(opts?: WaitOptions): Promise<AgentHealth>;
  shutdown(req?: ShutdownRequest, opts?: CallOptions): Promise<void>;
  pause(opts?: CallOptions): Promise<void>;
  resume(opts?: CallOptions): Promise<void>;
  suspend(opts?: CallOptions): Promise<void>;
  restore(opts?: CallOptions): Promise<void>;
  relaunch(opts?: CallOptions): Promise<void>;
  /** Always rejects: port forwarding needs Node (local listeners, WebSocket headers). */
  forward(specs: string | string[], options?: ForwarderOptions): Promise<never>;
  /** Streams frames as they are produced; no request before the first `next()`; leaving early aborts. */
  exec(req: ExecRequest, opts?: CallOptions): AsyncGenerator<ExecFrame, void, void>;
  /** One result once the command exits; `stdin` is refused. */
  execBuffered(req: ExecRequest & { stdio: 'base64' }, opts?: CallOptions): Promise<ExecResultBinary>;
  execBuffered(req: ExecRequest, opts?: CallOptions): Promise<ExecResult | ExecResultBinary>;
}

/** `vm.fs`. */
export class VMFileSystem {
  private constructor();
  readDir(path: string, opts?: CallOptions): Promise<FSEntry[]>;
  /** `null` when the path does not exist. */
  stat(path: string, opts?: CallOptions): Promise<FSEntry | null>;
  exists(path: string, opts?: CallOptions): Promise<boolean>;
  mkdir(req: FSMkdirRequest, opts?: CallOptions): Promise<void>;
  remove(path: string, recursive?: boolean, opts?: CallOptions): Promise<void>;
  readFile(path: string, opts?: CallOptions): Promise<Bytes>;
  writeFile(path: string, content: BytesInput, opts?: WriteFileOptions): Promise<void>;
  /** Extracts a tar under `path` (created when missing); streams are collected first. */
  tarTo(path: string, tar: TarInput, opts?: CallOptions): Promise<void>;
  /** A tar of the directory's contents. */
  tarFrom(path: string, opts?: CallOptions): Promise<Bytes>;
  /** Streams events; read with fetch, so the token header travels. */
  watch(req: FSWatchRequest, opts?: CallOptions): AsyncGenerator<FSWatchEvent, void, void>;
  /**
   * Addition to the official API: uploads in-memory files as one tar,
   * extracted under `remotePath` (created when missing).
   */
  uploadFolder(remotePath: string, files: FolderInput, opts?: FolderTransferOptions): Promise<UploadFolderResult>;
  /** Addition to the official API: a directory's contents as in-memory entries. */
  downloadFolder(remotePath: string, opts?: FolderTransferOptions): Promise<FolderEntry[]>;
}

/** `vm.bg`. */
export class VMBg {
  private constructor();
  exec(req: BgExecRequest, opts?: CallOptions): Promise<BgExecResponse>;
  list(opts?: CallOptions): Promise<BgExecInfo[]>;
  info(execId: string, opts?: CallOptions): Promise<BgExecInfo>;
  logs(execId: string, opts?: BgLogOptions): AsyncGenerator<ExecFrame, void, void>;
  kill(execId: string, opts?: BgKillOptions): Promise<BgKillResponse>;
  /** Long-polls up to `timeoutSec` (1-600; 0 = the daemon's 30 s). */
  wait(execId: string, timeoutSec?: number, opts?: CallOptions): Promise<BgWaitExitResponse>;
  remove(execId: string, opts?: CallOptions): Promise<BgDeleteResponse>;
}
