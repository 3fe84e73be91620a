// Worker entry (workerd, Cloudflare Workers, wrangler): the runtime hands
// over the .wasm as a compiled WebAssembly.Module, which is instantiated
// synchronously; workers may not compile code from bytes at run time.
import wasmModule from './slicer_wasm_bg.wasm';
import { initSync } from './slicer_wasm.js';

initSync({ module: wasmModule });

export * from './api.js';
