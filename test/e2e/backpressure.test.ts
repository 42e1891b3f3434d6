// Acceptance: the fluent-bit#8395 scenario. An output answers RETRY for a
// long outage while an input writes as fast as it can under tight limits;
// the input is paused (not dropping), memory stays bounded, and after the
// outage everything accepted is delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';

const FLAKY = JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'));
const SAMPLES = 300_000;
const RSS_CEILING_MB = 300;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const scenarios = [
  { storage: 'memory', outageS: 60 },
  { storage: 'filesystem', outageS: 10 },
] as const;

for (const { storage, outageS } of scenarios) {
  test(`${storage} storage: ${outageS} s of RETRY under max_chunks_up 4 and a small mem_buf_limit, then recovery delivers everything`, async () => {
    const dir = tempDir();
    const outage = join(dir, 'outage');
    writeFileSync(outage, '');
    const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 1
  storage.path: ${dir}/storage
  storage.max_chunks_up: 4
plugins:
  flaky: { command: [${FLAKY}] }
pipeline:
  inputs:
    - name: dummy
      alias: gen
      rate: 1000000
      samples: ${SAMPLES}
      exit_on_eof: on
      mem_buf_limit: 2M
      storage.type: ${storage}
      dummy: '{"message":"a log line of ordinary length, with a few fields","level":"info","n":12345}'
  outputs:
    - { name: flaky, match: '*', fail_while_exists: ${outage}, retry_limit: no_limits, workers: 2 }
`));
    let maxRss = 0;
    let maxUp = 0;
    let delivered = 0;
    let retries = 0;
    let sawPaused = false;
    let sawDown = false;
    let firstRetry: number | undefined;
    const pid = s.proc.pid!;
    // Timed from the first RETRY, not from the start, and lasting until it has shown what it is
    // there to show: a busy machine starts sluice late and fills its buffers slowly.
    await waitFor(async () => {
      maxRss = Math.max(maxRss, rssMb(pid));
      const text = await s.api('/api/v1/metrics/prometheus');
      sawPaused ||= metric(text, 'sluice_input_paused', { name: 'gen' }) === 1;
      sawDown ||= metric(text, 'sluice_storage_chunks', { state: 'down' }) > 0;
      maxUp = Math.max(maxUp, metric(text, 'sluice_storage_chunks', { state: 'up' }));
      delivered = Math.max(delivered, metric(text, 'sluice_output_proc_records_total', { name: 'flaky.0' }));
      retries = metric(text, 'sluice_output_retries_total', { name: 'flaky.0' });
      if (retries > 0) firstRetry ??= Date.now();
      return firstRetry !== undefined && Date.now() - firstRetry >= outageS * 1000 && (storage === 'memory' ? sawPaused : sawDown);
    }, `${outageS} s of RETRY, and the input ${storage === 'memory' ? 'paused' : 'putting chunks down'}`, { everyMs: 250, progress: () => retries });
    assert.ok(maxUp <= 4 + 2, `${maxUp} chunks in memory: over max_chunks_up plus those in flight`);
    assert.equal(delivered, 0);
    const text = await s.api('/api/v1/metrics/prometheus');
    assert.equal(metric(text, 'sluice_output_dropped_records_total', { name: 'flaky.0', reason: 'retries_exhausted' }), 0);
    if (storage === 'memory') {
      assert.ok(sawPaused, 'the input was never paused');
      assert.ok(metric(text, 'sluice_input_paused_total', { name: 'gen' }) >= 1);
      assert.ok(metric(text, 'sluice_input_records_total', { name: 'gen' }) < SAMPLES, 'the input was not held back');
    } else {
      assert.ok(sawDown, 'no chunk was ever put down to disk');
    }
    rmSync(outage);
    const { code } = await s.exit();
    assert.equal(code, 0);
    const stopped = s.findLog((l) => l.msg === 'sluice stopped');
    assert.deepEqual(stopped?.delivered, { 'flaky.0': SAMPLES });
    assert.ok(maxRss < RSS_CEILING_MB, `host RSS reached ${maxRss.toFixed(0)} MB`);
  });
}
