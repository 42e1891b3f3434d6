// Acceptance: lines tailed from two files through the external `file`
// plugin arrive exactly once, in order per file; and when the plugin is
// SIGKILLed mid-run, nothing is lost and only in-flight chunks repeat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { ROOT, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, countLines, readDelivered } from '../helpers/lines.ts';

function config(dir: string, opts: { exitOnEof: boolean; http?: boolean }): string {
  return writeConfig(dir, `
service:
  flush: 0.2
  grace: 10
  log_level: info
  http_server: ${opts.http ? 'on' : 'off'}
  http_port: 0
plugins:
  jsonfile:
    command: [${JSON.stringify(join(ROOT, 'plugins/file/main.ts'))}]
pipeline:
  inputs:
    - name: tail
      path: ${dir}/in-*.log
      tag: logs.*
      read_from_head: true
      exit_on_eof: ${opts.exitOnEof}
      refresh_interval: 0.2
  outputs:
    - name: jsonfile
      match: 'logs.*'
      path: ${dir}/out.jsonl
      json_date_key: ''
`);
}

function assertInOrderOnce(list: number[] | undefined, n: number, name: string): void {
  assert.ok(list, `no lines from ${name}`);
  assert.equal(list.length, n, `${name}: ${list.length} lines delivered, expected ${n}`);
  for (let i = 0; i < n; i++) if (list[i] !== i) assert.fail(`${name}: line ${i} is ${list[i]} (out of order or missing)`);
}

test('100,000 lines from two files arrive exactly once, in order per file', async () => {
  const dir = tempDir();
  appendNumbered(join(dir, 'in-a.log'), 'a', 0, 50_000);
  appendNumbered(join(dir, 'in-b.log'), 'b', 0, 50_000);
  const s = Sluice.run(config(dir, { exitOnEof: true }));
  const { code } = await s.exit();
  assert.equal(code, 0, `exit code ${code}; stderr: ${s.stderrText.join('\n')}`);
  const out = readDelivered(join(dir, 'out.jsonl'));
  assert.equal(out.total, 100_000);
  assertInOrderOnce(out.byPrefix.get('a'), 50_000, 'in-a.log');
  assertInOrderOnce(out.byPrefix.get('b'), 50_000, 'in-b.log');
  const stopped = s.findLog((l) => l.msg === 'sluice stopped');
  assert.deepEqual(stopped?.delivered, { 'jsonfile.0': 100_000 });
});

test('the plugin SIGKILLed three times mid-run: every line arrives, duplicates only from in-flight chunks', async () => {
  const dir = tempDir();
  const out = join(dir, 'out.jsonl');
  const a = join(dir, 'in-a.log');
  const b = join(dir, 'in-b.log');
  writeFileSync(a, '');
  writeFileSync(b, '');
  const s = Sluice.run(config(dir, { exitOnEof: false, http: true }));
  try {
    const plugin = async () => (await s.api('/api/v1/plugins')).plugins[0];
    let pid = await waitFor(async () => { const p = await plugin(); return p.state === 'ready' && p.pid; }, 'the plugin to be ready');
    const perBatch = 12_500;
    let written = 0;
    for (let kill = 1; kill <= 3; kill++) {
      appendNumbered(a, 'a', written, written + perBatch);
      appendNumbered(b, 'b', written, written + perBatch);
      written += perBatch;
      // Kill while this batch is being delivered.
      const floor = countLines(out);
      await waitFor(() => countLines(out) > floor, 'the batch to start arriving');
      process.kill(pid, 'SIGKILL');
      const old = pid;
      pid = await waitFor(async () => { const p = await plugin(); return p.state === 'ready' && p.pid !== old && p.pid; }, `plugin restart #${kill}`);
    }
    appendNumbered(a, 'a', written, written + perBatch);
    appendNumbered(b, 'b', written, written + perBatch);
    written += perBatch;
    const want = written * 2;
    await waitFor(() => {
      const d = readDelivered(out);
      return new Set(d.byPrefix.get('a')).size + new Set(d.byPrefix.get('b')).size === want;
    }, 'every line to be delivered', { everyMs: 200 });

    const metrics: string = await s.api('/api/v1/metrics/prometheus');
    const requeued = Number(/sluice_output_requeued_records_total\{name="jsonfile.0"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    const restarts = Number(/sluice_plugin_restarts_total\{name="jsonfile.0"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.equal(restarts, 3);
    const d = readDelivered(out);
    const duplicates = d.total - want;
    assert.ok(duplicates >= 0);
    assert.ok(duplicates <= requeued, `${duplicates} duplicates, but only ${requeued} records were in flight at the kills`);
    for (const p of ['a', 'b']) {
      const seen = new Set(d.byPrefix.get(p));
      for (let i = 0; i < written; i++) if (!seen.has(i)) assert.fail(`line ${p}-${i} lost`);
    }
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});
