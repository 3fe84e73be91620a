// The built package under Deno: `deno run --allow-read=. --allow-net=HOST:PORT
// js-tests/deno-test.js URL [TOKEN]`, run from wasm/. Prints one summary line.
import * as sdk from '../pkg-npm/deno.js';
import { runScenario } from './scenario.js';

const [baseURL, token] = Deno.args;
let passed = 0;
let failed = 0;

async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`deno: ok ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`deno: FAILED ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

await check('scenario', async () => {
  const steps = await runScenario(sdk, { baseURL, token });
  if (steps.length !== 5) throw new Error(`steps: ${steps}`);
});

await check('SlicerAPIError for an unknown VM', async () => {
  const vm = new sdk.SlicerClient({ baseURL, token }).vms.attach('sbox', 'sbox-999999');
  try {
    await vm.health();
  } catch (e) {
    if (e instanceof sdk.SlicerAPIError && e.status === 404) return;
    throw e;
  }
  throw new Error('health() of an unknown VM resolved');
});

console.log(`deno: ${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
