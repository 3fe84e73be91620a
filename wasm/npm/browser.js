// Browser entry (pages, web workers, bundlers): fetches and instantiates the
// .wasm while this module loads (top-level await), so every constructor of
// the package is synchronous once the import resolves.
import init from './slicer_wasm.js';

await init({ module_or_path: new URL('./slicer_wasm_bg.wasm', import.meta.url) });

export * from './api.js';
