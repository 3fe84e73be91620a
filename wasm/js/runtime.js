// JavaScript half of slicer-wasm: the error classes (defined here so that
// `instanceof` works for callers) and the few runtime helpers Rust needs
// without assuming a `window`. wasm-bindgen copies this file into the
// package as a snippet; the package's `errors.js` re-exports the same module
// instance, so the classes thrown from Rust are the ones callers import.

/** Any non-2xx answer from the Slicer API. */
export class SlicerAPIError extends Error {
  /**
   * @param {number} status HTTP status
   * @param {string} method request method
   * @param {string} path request path as sent
   * @param {string} body raw response body
   */
  constructor(status, method, path, body) {
    const detail = body && body.trim() ? `: ${body.trim()}` : '';
    super(`Slicer API ${method} ${path} failed with status ${status}${detail}`);
    Object.defineProperty(this, 'name', { value: 'SlicerAPIError', enumerable: false });
    for (const [key, value] of Object.entries({ status, method, path, body })) {
      Object.defineProperty(this, key, { value, enumerable: true, writable: false });
    }
  }
}

/** `secrets.create` named a secret that already exists (HTTP 409). */
export class SecretExistsError extends Error {
  /** @param {string} name the secret's name */
  constructor(name) {
    super(`secret "${name}" already exists`);
    Object.defineProperty(this, 'name', { value: 'SecretExistsError', enumerable: false });
  }
}

/** The error an aborted call rejects with: the signal's reason, as fetch does. */
function abortReason(signal) {
  if (signal && signal.reason !== undefined) return signal.reason;
  return new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * Watches up to two optional signals. Returns null when there is none, else
 * `{ promise, dispose }`: the promise resolves with the abort reason once
 * either fires; dispose removes the listeners.
 */
export function watchAbort(first, second) {
  const signals = [first, second].filter((s) => s !== undefined && s !== null);
  if (signals.length === 0) return null;
  for (const s of signals) {
    if (typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function') {
      throw new TypeError('signal must be an AbortSignal');
    }
  }
  let dispose = () => {};
  const promise = new Promise((resolve) => {
    const already = signals.find((s) => s.aborted);
    if (already) {
      resolve(abortReason(already));
      return;
    }
    const listeners = signals.map((s) => {
      const onAbort = () => {
        dispose();
        resolve(abortReason(s));
      };
      s.addEventListener('abort', onAbort, { once: true });
      return [s, onAbort];
    });
    dispose = () => {
      for (const [s, onAbort] of listeners) s.removeEventListener('abort', onAbort);
    };
  });
  return { promise, dispose: () => dispose() };
}

/** The error a dropped or aborted request reports. */
export function abortError(message) {
  return new DOMException(message, 'AbortError');
}

/** Resolves after `ms` milliseconds, through the global timer. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Cancels a stream reader, swallowing the rejection of an errored stream. */
export function cancelQuietly(reader) {
  try {
    const p = reader.cancel();
    if (p && typeof p.catch === 'function') p.catch(() => {});
  } catch (_) {
    // Already released or errored: nothing to cancel.
  }
}

/**
 * Whether this runtime is a server-side one (Node, Deno, Bun), where a
 * `User-Agent` header may be set; browsers refuse or preflight it.
 */
export function isServerRuntime() {
  const g = globalThis;
  return Boolean((g.process && g.process.versions && g.process.versions.node) || g.Deno || g.Bun);
}

/** Wraps bytes zero-copy as a Node Buffer when Buffer exists, else returns them. */
export function wrapBytes(bytes) {
  const B = globalThis.Buffer;
  if (B && typeof B.from === 'function') {
    return B.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return bytes;
}
