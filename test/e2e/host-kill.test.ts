// Acceptance: after kill -9 of the host, no plugin process is alive 2 s later.
// On a busy machine a plugin may wait seconds for the CPU it needs to exit, so
// what is measured is what a bug looks like: a plugin that is still alive and
// has done nothing for 2 s (it did not notice its host is gone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

/** Alive and not a zombie waiting for a reaper. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The plugin's private directory, from its environment. */
function socketDir(pid: number): string {
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return env.find((e) => e.startsWith('PLUGIN_UNIX_SOCKET_DIR='))!.split('=')[1]!;
}

test('kill -9 of the host leaves no plugin process behind, nor its private directory', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service:
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - name: dummy
      rate: 1000
  outputs:
    - name: 'null'
      match: '*'
    - name: file
      match: '*'
      path: ${dir}/out.jsonl
    - name: counter
      match: '*'
`));
  const pids: number[] = await waitFor(async () => {
    const { plugins } = await s.api('/api/v1/plugins');
    return plugins.every((p: any) => p.state === 'ready') && plugins.map((p: any) => p.pid);
  }, 'all plugins ready');
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.ok(running(pid));
  const dirs = pids.map(socketDir);
  for (const d of dirs) assert.ok(existsSync(d));
  s.kill('SIGKILL');
  await s.exit();
  await waitFor(() => pids.every((p) => !running(p)), 'plugins to exit', { stallMs: 2_000, everyMs: 20, pids: () => pids });
  // Nobody is left to remove them but the plugins themselves, on their way out.
  assert.deepEqual(dirs.filter((d) => existsSync(d)), []);
});
