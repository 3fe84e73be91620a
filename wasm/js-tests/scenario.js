// The end-to-end scenario every runtime runs against the emulator with the
// BUILT package: create a VM, watch exec output arrive while the command is
// still running, upload and download a folder in memory, delete the VM.
// Runtime harnesses (Node, Chromium page, workerd, Deno) pass in the package
// they imported; this file imports nothing, so it loads everywhere.

function check(condition, message) {
  if (!condition) throw new Error(`scenario: ${message}`);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Runs the scenario; resolves with a list of the steps that passed, throws
 * on the first failure. `options`: `{ baseURL, token?, fetch? }`.
 */
export async function runScenario(sdk, options) {
  const steps = [];
  const client = new sdk.SlicerClient(options);

  const vm = await client.vms.create('sbox', { tags: ['scenario'] }, { wait: 'agent' });
  check(typeof vm.hostname === 'string' && vm.hostname !== '', 'create returned no hostname');
  check(vm.hostGroup === 'sbox', `VM host group is ${vm.hostGroup}`);
  steps.push('create');

  try {
    // The command prints, then waits for a file that this side writes only
    // after it has seen the first line: if output were buffered until the
    // command exits, "two" could never be printed.
    const gate = `/tmp/scenario-gate-${vm.hostname}`;
    const script =
      `echo one; i=0; while [ ! -e ${gate} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; ` +
      `if [ -e ${gate} ]; then echo two; else echo gave-up; fi`;
    const seen = [];
    let exitCode;
    for await (const frame of vm.exec({ command: '/bin/sh', args: ['-c', script] })) {
      if (frame.type === 'stdout') {
        const text = frame.data ?? frame.stdout ?? '';
        seen.push(text.trim());
        if (text.trim() === 'one') await vm.fs.writeFile(gate, 'go');
      }
      if (frame.type === 'exit') exitCode = frame.exitCode;
    }
    check(seen.join(',') === 'one,two', `exec output was ${JSON.stringify(seen)}`);
    check(exitCode === 0, `exec exit code ${exitCode}`);
    steps.push('exec-streams');

    const files = [
      { path: 'site/index.html', data: '<h1>hello</h1>' },
      { path: 'site/css/app.css', data: encoder.encode('h1{color:red}') },
      { path: 'bin/run.sh', data: '#!/bin/sh\necho ran\n', mode: 0o755 },
    ];
    const upProgress = [];
    const up = await vm.fs.uploadFolder('/tmp/scenario-up', files, {
      onProgress: (p) => upProgress.push(p),
    });
    check(up.files === 3, `uploadFolder reported ${up.files} files`);
    const lastUp = upProgress[upProgress.length - 1];
    check(lastUp && lastUp.phase === 'upload' && lastUp.loaded === up.archiveBytes, 'upload progress');
    const ran = await vm.execBuffered({ command: '/tmp/scenario-up/bin/run.sh' });
    check(ran.stdout === 'ran\n', `uploaded script printed ${JSON.stringify(ran.stdout)}`);
    steps.push('upload-folder');

    const downProgress = [];
    const entries = await vm.fs.downloadFolder('/tmp/scenario-up', {
      onProgress: (p) => downProgress.push(p),
    });
    const byPath = new Map(entries.map((e) => [e.path, e]));
    check(decoder.decode(byPath.get('site/index.html').data) === '<h1>hello</h1>', 'index.html');
    check(decoder.decode(byPath.get('site/css/app.css').data) === 'h1{color:red}', 'app.css');
    check(byPath.get('bin/run.sh').mode === 0o755, 'run.sh mode');
    check(byPath.get('site').type === 'directory', 'site is a directory');
    const lastDown = downProgress[downProgress.length - 1];
    check(lastDown && lastDown.phase === 'download' && lastDown.loaded > 0, 'download progress');
    steps.push('download-folder');
  } finally {
    await vm.delete();
  }
  const left = await client.vms.list({ tag: 'scenario' });
  check(!left.some((n) => n.hostname === vm.hostname), 'VM still listed after delete');
  steps.push('delete');
  return steps;
}
