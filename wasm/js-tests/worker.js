// A worker using the built package through its workerd entry. Its fetch
// handler runs the shared scenario against env.SLICER_URL and answers JSON.
import * as sdk from '../pkg-npm/workerd.js';
import { runScenario } from './scenario.js';

export default {
  async fetch(_request, env) {
    const results = [];
    try {
      const steps = await runScenario(sdk, { baseURL: env.SLICER_URL, token: env.SLICER_TOKEN || undefined });
      results.push({ name: 'scenario', ok: true, detail: steps.join(', ') });
    } catch (e) {
      results.push({ name: 'scenario', ok: false, detail: String(e && e.stack ? e.stack : e) });
    }
    try {
      const vm = new sdk.SlicerClient({ baseURL: env.SLICER_URL, token: env.SLICER_TOKEN || undefined })
        .vms.attach('sbox', 'sbox-999999');
      await vm.health();
      results.push({ name: 'SlicerAPIError', ok: false, detail: 'health() of an unknown VM resolved' });
    } catch (e) {
      const ok = e instanceof sdk.SlicerAPIError && e.status === 404;
      results.push({ name: 'SlicerAPIError', ok, detail: String(e) });
    }
    return Response.json(results);
  },
};
