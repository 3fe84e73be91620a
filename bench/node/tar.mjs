// The npm package's in-memory tar work, timed in Node: vm.fs.uploadFolder
// packs files into an archive and vm.fs.downloadFolder unpacks one. A stub
// fetch stands in for the network, so only the package's own work is
// measured: JavaScript to wasm copies, the tar code, wasm to JavaScript.
//
// Usage: node tar.mjs <package-dir> <reps> <source-dir> <archive-file>
// Prints one JSON object: files, entries, pack_s and unpack_s (medians).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [pkg, repsText, src, archivePath] = process.argv.slice(2);
const reps = Number(repsText);
if (!archivePath || !(reps >= 1)) {
  console.error('usage: node tar.mjs <package-dir> <reps> <source-dir> <archive-file>');
  process.exit(2);
}

const { SlicerClient } = await import(pathToFileURL(join(pkg, 'node.js')).href);

// What a caller of uploadFolder holds: every file's path, bytes, mode, mtime.
function walk(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      walk(path, out);
    } else if (entry.isFile()) {
      const stat = statSync(path);
      out.push({
        path: relative(src, path),
        data: readFileSync(path),
        mode: stat.mode & 0o777,
        mtime: Math.floor(stat.mtimeMs / 1000),
      });
    }
  }
  return out;
}

const files = walk(src, []);
const archive = readFileSync(archivePath);
const base = 'http://127.0.0.1:9';

let uploadedBytes = 0;
const packer = new SlicerClient({
  baseURL: base,
  fetch: async (_url, init) => {
    uploadedBytes = init.body.byteLength;
    return new Response(null, { status: 200 });
  },
});
const unpacker = new SlicerClient({
  baseURL: base,
  fetch: async () =>
    new Response(archive, {
      status: 200,
      headers: {
        'content-type': 'application/x-tar',
        'x-slicer-source-type': 'directory',
        'x-slicer-source-name-base64': Buffer.from('data').toString('base64url'),
      },
    }),
});
const packVm = packer.vms.attach('sbox', 'bench-1');
const unpackVm = unpacker.vms.attach('sbox', 'bench-1');

// One untimed run first, so the JIT and the wasm memory have settled.
async function median(step) {
  await step();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await step();
    times.push((performance.now() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const mid = Math.floor(times.length / 2);
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}

let packed;
const pack_s = await median(async () => {
  packed = await packVm.fs.uploadFolder('/home/ubuntu/data', files);
});
if (packed.files !== files.length || packed.archiveBytes !== uploadedBytes) {
  throw new Error(`uploadFolder packed ${JSON.stringify(packed)}, fetch saw ${uploadedBytes} bytes`);
}

let entries;
const unpack_s = await median(async () => {
  entries = await unpackVm.fs.downloadFolder('/home/ubuntu/data');
});
const unpackedFiles = entries.filter((e) => e.type === 'file');
const unpackedBytes = unpackedFiles.reduce((sum, e) => sum + e.data.length, 0);
const sourceBytes = files.reduce((sum, f) => sum + f.data.length, 0);
if (unpackedFiles.length !== files.length || unpackedBytes !== sourceBytes) {
  throw new Error(`downloadFolder returned ${unpackedFiles.length} files of ${unpackedBytes} bytes`);
}

console.log(JSON.stringify({ files: files.length, entries: entries.length, pack_s, unpack_s }));
