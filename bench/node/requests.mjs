// Per-request overhead of the npm package in Node: n `client.vms.list()`
// calls (GET /nodes) one after another, then n with k in flight, over
// Node's own fetch (which keeps connections alive).
//
// Usage: node requests.mjs <package-dir> <base-url> <n> <k> <reps>
// Prints one JSON object: sequential_s and concurrent_s (medians).

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [pkg, baseURL, nText, kText, repsText] = process.argv.slice(2);
const [n, k, reps] = [Number(nText), Number(kText), Number(repsText)];
if (!(n >= 1 && k >= 1 && reps >= 1)) {
  console.error('usage: node requests.mjs <package-dir> <base-url> <n> <k> <reps>');
  process.exit(2);
}

const { SlicerClient } = await import(pathToFileURL(join(pkg, 'node.js')).href);
const client = new SlicerClient({ baseURL });

async function listOne() {
  const vms = await client.vms.list();
  if (vms.length !== 1) {
    throw new Error(`vms.list() returned ${vms.length} VMs, not 1`);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// One untimed call opens a connection and settles the JIT.
await listOne();

const sequential = [];
const concurrent = [];
for (let rep = 0; rep < reps; rep++) {
  let start = performance.now();
  for (let i = 0; i < n; i++) {
    await listOne();
  }
  sequential.push((performance.now() - start) / 1000);

  start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await listOne();
    }
  };
  await Promise.all(Array.from({ length: Math.min(k, n) }, worker));
  concurrent.push((performance.now() - start) / 1000);
}

console.log(JSON.stringify({ sequential_s: median(sequential), concurrent_s: median(concurrent) }));
