// Acceptance: each misbehaving plugin gets its documented error, and the
// host keeps serving the other outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { countLines } from '../helpers/lines.ts';

const fixture = (name: string) => JSON.stringify(join(FIXTURES, 'plugins', name));

test('misbehaving plugins are reported and the good output still gets every event', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 1
  http_server: on
  http_port: 0
  scheduler.base: 0.05
  scheduler.cap: 0.2
plugins:
  garbage: { command: [${fixture('garbage.ts')}] }
  early: { command: [${fixture('exits-early.ts')}] }
  future: { command: [${fixture('future-version.ts')}] }
  odd: { command: [${fixture('odd-status.ts')}] }
pipeline:
  inputs:
    - name: dummy
      rate: 500
      samples: 1000
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl }
    - { name: garbage, match: '*', start_timeout: 5, start_retries: no_limits }
    - { name: early, match: '*', start_retries: no_limits }
    - { name: future, match: '*', start_retries: no_limits }
    - { name: odd, match: '*', retry_limit: no_limits }
`));
  try {
    await waitFor(() => countLines(join(dir, 'out.jsonl')) === 1000, 'the file output to get all 1000 events');
    const errors = () => s.logs.filter((l) => l.level >= 50).map((l) => String(l.err ?? l.msg));
    const has = (re: RegExp) => waitFor(() => errors().find((e) => re.test(e)) ?? s.logs.find((l) => re.test(String(l.msg))), String(re));

    const garbage = await has(/garbage.*not a sluice handshake/);
    assert.match(String(garbage), /first bytes: "Hello! I am a plugin that forgot the protocol\. Hello!/);
    assert.match(String(await has(/"early" exited before its handshake \(exit code 3\)/)), /fatal: settings file missing/);
    assert.match(String(await has(/future.*protocol version "9"; this host speaks 1, 2/)), /9.*1/);
    await s.waitForLog((l) => l.msg === 'plugin answered an unknown Flush status; treated as RETRY' && l.status === 7, 'the unknown status warning');
    await s.waitForLog((l) => l.msg === 'chunk will be retried' && l.output === 'odd.0', 'a retry for the odd plugin');

    const { plugins } = await s.api('/api/v1/plugins');
    const state = Object.fromEntries(plugins.map((p: any) => [p.output, p.state]));
    assert.equal(state['file.0'], 'ready');
    assert.equal(state['odd.0'], 'ready');
    for (const bad of ['garbage.0', 'early.0', 'future.0']) assert.match(state[bad], /^(backoff|starting)$/, `${bad} is ${state[bad]}`);
    assert.equal(countLines(join(dir, 'out.jsonl')), 1000);

    // Every series exists from the start: an alert on sluice_plugin_up == 0 fires for a plugin that never started.
    const prom: string = await s.api('/api/v1/metrics/prometheus');
    const sample = (name: string, labels: string) => new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(prom)?.[1];
    for (const bad of ['garbage.0', 'early.0', 'future.0']) assert.equal(sample('sluice_plugin_up', `name="${bad}"`), '0', `${bad}: no sluice_plugin_up 0`);
    for (const name of ['sluice_output_retries_total', 'sluice_output_errors_total', 'sluice_output_retries_failed_total', 'sluice_output_timeouts_total', 'sluice_plugin_restarts_total']) {
      assert.equal(sample(name, 'name="file.0"'), '0', `${name} of the file output`);
    }
    for (const reason of ['error', 'retries_exhausted', 'total_limit_size', 'output_removed']) {
      assert.equal(sample('sluice_output_dropped_records_total', `name="file.0",reason="${reason}"`), '0', `dropped, ${reason}`);
    }
    for (const result of ['ok', 'failed']) assert.equal(sample('sluice_reloads_total', `result="${result}"`), '0', `reloads ${result}`);
    assert.equal(sample('sluice_input_paused_total', 'name="dummy.0"'), '0');
  } finally {
    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0);
  }
});

test('a plugin command that is missing or not executable is refused before anything starts', async () => {
  const dir = tempDir();
  const script = join(dir, 'plugin.sh');
  writeFileSync(script, '#!/bin/sh\n');
  chmodSync(script, 0o644);
  const cfg = (cmd: string) => writeConfig(dir, `pipeline:
  inputs: [{ name: dummy }]
  outputs: [{ name: mine, match: '*' }]
plugins:
  mine:
    command: [${cmd}]
`);
  for (const [cmd, why] of [[join(dir, 'nope'), /does not exist/], [script, /is not executable \(chmod \+x/]] as const) {
    const s = Sluice.run(cfg(cmd));
    const { code } = await s.exit();
    assert.equal(code, 2);
    const line = s.stderrText.find((l) => l.includes('plugins.mine.command'));
    assert.ok(line, s.stderrText.join('\n'));
    assert.match(line, /sluice\.yaml:6:\d+: plugins\.mine\.command: plugin command not found or not runnable/);
    assert.match(line, why);
  }
});

test('sluice run exits with the plugin\'s error when an output\'s plugin fails start_retries times in a row at startup', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
plugins:
  early: { command: [${fixture('exits-early.ts')}] }
pipeline:
  inputs: [{ name: dummy, samples: 10 }]
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl }
    - { name: early, match: '*', start_retries: 2 }
`));
  // Backoff between the two tries is 1 s; the exit must not wait for the ten-minute restart schedule.
  const { code } = await s.exit();
  assert.equal(code, 2);
  const text = s.stderrText.join('\n');
  assert.match(text, /sluice\.yaml:8:\d+: pipeline\.outputs\[1\]: failed to start 2 times in a row \(start_retries: 2\); the last time: plugin "early" exited before its handshake \(exit code 3\)/);
  assert.match(text, /fatal: settings file missing/);
  assert.equal(s.logs.filter((l) => l.msg === 'plugin failed to start; trying again').length, 1);
});
