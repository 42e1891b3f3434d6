// The Go SDK's file output (examples/go/file) end to end: 100,000 numbered
// lines tailed through it, a hot reload that changes it (its path) and a
// SIGKILL of its process mid-run. Every line arrives; a line arrives twice
// only if its chunk was in flight to the killed process (the host says how
// many records went back to pending); no retry is spent on either.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, countLines, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { DROP_REASONS } from '../../host/api/metrics.ts';

const BIN = join(tempDir('sluice-go-file-'), 'gofile');
before(async () => {
  await promisify(execFile)(join(ROOT, 'scripts/go.sh'), ['build', '-o', BIN, './examples/go/file'], { cwd: ROOT });
});

const TOTAL = 100_000;
const BATCH = 5_000;

test('100,000 lines through the Go file output, a reload that changes it and a SIGKILL of it: every line arrives, duplicates only from chunks in flight at the kill, no retries', async () => {
  const dir = tempDir();
  const input = join(dir, 'app.log');
  const outA = join(dir, 'a.jsonl');
  const outB = join(dir, 'b.jsonl');
  writeFileSync(input, '');
  const cfg = (out: string) => `
service:
  flush: 0.2
  http_server: on
  http_port: 0
plugins:
  gofile: { command: [${JSON.stringify(BIN)}] }
pipeline:
  inputs:
    - { name: tail, path: ${JSON.stringify(input)}, read_from_head: true, tag: app }
  outputs:
    - { name: gofile, alias: go, match: '*', path: ${JSON.stringify(out)}, json_date_key: '' }
`;
  const file = writeConfig(dir, cfg(outA));
  const s = Sluice.run(file);
  const delivered = () => countLines(outA) + countLines(outB);
  try {
    await s.started();
    let written = 0;
    // Written in batches, each once the one before has mostly arrived, so the reload and the kill land mid-run.
    const writeUpTo = async (upTo: number) => {
      while (written < upTo) {
        await waitFor(() => delivered() >= written - BATCH || undefined, `lines up to ${written - BATCH} delivered`, { progress: delivered });
        appendNumbered(input, 'go', written, written + BATCH);
        written += BATCH;
      }
    };

    await writeUpTo(30_000);
    writeFileSync(file, cfg(outB));
    process.kill(s.proc.pid!, 'SIGHUP');
    const reload = await waitFor(async () => {
      const r = await s.api('/api/v2/reload');
      return r.hot_reload_count === 1 && r.last;
    }, 'the reload', { progress: delivered });
    assert.equal(reload.status, 'ok', JSON.stringify(reload.errors));
    assert.equal(reload.outputs.go.action, 'changed');

    await writeUpTo(60_000);
    await waitFor(() => countLines(outB) > 0 || undefined, 'lines in the new path', { progress: delivered });
    const go = async () => (await s.api('/api/v1/plugins')).plugins.find((p: { output: string }) => p.output === 'go');
    const pid: number = (await go()).pid;
    // Stopped first, so that chunks are in flight to it when it dies.
    process.kill(pid, 'SIGSTOP');
    appendNumbered(input, 'go', written, written + BATCH);
    written += BATCH;
    await waitFor(async () => (await go()).in_flight > 0 || undefined, 'chunks in flight to the stopped plugin', { progress: () => s.logs.length });
    process.kill(pid, 'SIGKILL');

    await writeUpTo(TOTAL);
    await waitFor(() => delivered() >= TOTAL || undefined, `all ${TOTAL} lines delivered`, { progress: delivered });
    const prom = await s.api('/api/v1/metrics/prometheus');
    assert.equal(metric(prom, 'sluice_output_retries_total', { name: 'go' }), 0, 'a reload or a kill spent a retry');
    for (const reason of DROP_REASONS) assert.equal(metric(prom, 'sluice_output_dropped_records_total', { name: 'go', reason }), 0, `dropped: ${reason}`);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }

  const seen = new Map<number, number>();
  for (const out of [outA, outB]) for (const n of readDelivered(out).byPrefix.get('go') ?? []) seen.set(n, (seen.get(n) ?? 0) + 1);
  const missing = [];
  for (let i = 0; i < TOTAL; i++) if (!seen.has(i)) missing.push(i);
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} lines missing`);
  const duplicates = [...seen.values()].reduce((a, c) => a + c - 1, 0);
  const requeued = s.logs.filter((l) => l.msg?.startsWith('chunks in flight to a plugin that is gone')).reduce((a, l) => a + (l.records ?? 0), 0);
  assert.ok(s.logs.some((l) => /go back to pending/.test(l.msg ?? '')), `the host did not notice the kill: ${s.logs.map((l) => l.msg).join(' | ')}`);
  assert.ok(requeued > 0, 'no chunk was in flight at the kill');
  assert.ok(duplicates <= requeued, `${duplicates} duplicated lines, but only ${requeued} records were in flight at the kill`);
});
