// Per-request overhead of the npm package in Node: n `client.vms.list()`
// calls (GET /nodes) one after another, then n with k in flight, over
// Node's own fetch (which keeps connections alive); and the same requests
// made with that fetch directly (`fetch` then `json()`), the floor the
// package stands on.
//
// Usage: node requests.mjs <package-dir> <base-url> <n> <k> <reps>
// Prints one JSON object: sequential_s, concurrent_s, fetch_sequential_s
// and fetch_concurrent_s (medians).

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

async function fetchOne() {
  const res = await fetch(`${baseURL}/nodes`);
  const vms = await res.json();
  if (res.status !== 200 || vms.length !== 1) {
    throw new Error(`GET /nodes answered ${res.status} with ${JSON.stringify(vms)}`);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timeBoth(one) {
  // One untimed call opens a connection and settles the JIT.
  await one();
  const sequential = [];
  const concurrent = [];
  for (let rep = 0; rep < reps; rep++) {
    let start = performance.now();
    for (let i = 0; i < n; i++) {
      await one();
    }
    sequential.push((performance.now() - start) / 1000);

    start = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: Math.min(k, n) }, worker));
    concurrent.push((performance.now() - start) / 1000);
  }
  return [median(sequential), median(concurrent)];
}

const [sequential_s, concurrent_s] = await timeBoth(listOne);
const [fetch_sequential_s, fetch_concurrent_s] = await timeBoth(fetchOne);
console.log(JSON.stringify({ sequential_s, concurrent_s, fetch_sequential_s, fetch_concurrent_s }));
