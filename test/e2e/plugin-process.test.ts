// Acceptance: what a plugin process writes on stderr reaches the host's log
// without overriding the host's own fields, and a plugin's private directory
// (its TMPDIR too) is gone after it is killed and after the host stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, alive, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

const fixture = (name: string) => JSON.stringify(join(FIXTURES, 'plugins', name));

function config(plugin: string): string {
  return writeConfig(tempDir(), `
service:
  flush: 0.2
  grace: 2
pipeline:
  inputs:
    - { name: dummy, rate: 1, samples: 1 }
  outputs:
    - { name: p, match: '*' }
plugins:
  p: { command: [${fixture(plugin)}] }
`);
}

test('hclog, pino and plain stderr lines keep their level, message and fields; the host fields stay the host\'s', async () => {
  const s = Sluice.run(config('hclog-logger.ts'));
  try {
    const hc = await s.waitForLog((l) => l.msg === 'hello', 'the hclog line');
    const pino = await s.waitForLog((l) => l.msg === 'pino says', 'the pino line');
    const plain = await s.waitForLog((l) => l.msg === 'plain words', 'the plain line');
    const started = await s.waitForLog((l) => l.msg === 'sluice started', 'the start');
    const pid = started.outputs[0].pid;
    assert.equal(typeof pid, 'number');

    assert.equal(hc.level, 40, 'hclog @level warn');
    assert.equal(hc.module, 'x');
    assert.equal(hc.plugin_time, '2026-12-02T04:00:00.123456Z');
    assert.equal(hc.answer, 42);
    assert.deepEqual(hc.fields, { level: 'nope', msg: 'mine', pid: 4, time: 'then', hostname: 'elsewhere', output: 'evil', plugin: 'evil', plugin_pid: 1 });
    for (const l of [hc, pino, plain]) {
      assert.equal(l.output, 'p.0');
      assert.equal(l.plugin, 'p');
      assert.equal(l.plugin_pid, pid);
      assert.equal(l.pid, s.proc.pid, 'pid is the host\'s');
      assert.equal(typeof l.time, 'number');
    }

    assert.equal(pino.level, 50);
    assert.equal(pino.records, 7);
    assert.equal(pino.plugin_time, new Date(1764648000000).toISOString());
    assert.deepEqual(pino.fields, { pid: 1, hostname: 'elsewhere' }, 'a pid or hostname that differs from the host\'s view is kept');

    assert.equal(plain.level, 30);
    assert.equal(plain.stderr, true);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a plugin\'s TMPDIR is its private 0700 dir, removed after SIGKILL of the plugin and after the host stops', async () => {
  const s = Sluice.run(config('tmpdir-socket.ts'));
  const reports = () => s.logs.filter((l) => l.msg === 'tmpdir report');
  try {
    const first = await s.waitForLog((l) => l.msg === 'tmpdir report', 'the plugin to report its TMPDIR');
    assert.equal(first.tmpdir, first.socket_dir);
    assert.equal(first.stray_socket, join(first.tmpdir, `plugin${first.plugin_pid}.sock`));
    assert.equal(statSync(first.tmpdir).mode & 0o777, 0o700);
    await waitFor(() => existsSync(first.stray_socket), 'the stray socket to exist');

    process.kill(first.plugin_pid, 'SIGKILL');
    // The restart's report proves the host saw the death; removal happens as it does.
    const second = await waitFor(() => reports().find((l) => l.plugin_pid !== first.plugin_pid), 'the restarted plugin to report');
    await waitFor(() => !existsSync(first.tmpdir), `${first.tmpdir} to be removed after the SIGKILL`);
    assert.notEqual(second.tmpdir, first.tmpdir);
    assert.ok(existsSync(second.stray_socket));

    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
    assert.equal(existsSync(second.tmpdir), false, `${second.tmpdir} is left after the host stopped`);
    assert.equal(alive(second.plugin_pid, 'tmpdir-socket'), false);
  } finally {
    s.kill('SIGKILL');
  }
});
