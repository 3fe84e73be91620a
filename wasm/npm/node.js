// Node entry: the module is compiled synchronously from the file next to
// this one, so `import` (or `require` on Node 22+) returns a ready package.
import { readFileSync } from 'node:fs';
import { initSync } from './slicer_wasm.js';

initSync({ module: readFileSync(new URL('./slicer_wasm_bg.wasm', import.meta.url)) });

export * from './api.js';
