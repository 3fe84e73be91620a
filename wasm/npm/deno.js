// Deno entry: reads the .wasm next to this file (needs --allow-read for the
// package directory) and instantiates it synchronously.
import { initSync } from './slicer_wasm.js';

initSync({ module: Deno.readFileSync(new URL('./slicer_wasm_bg.wasm', import.meta.url)) });

export * from './api.js';
