// Filesystem storage: corrupt chunk files are quarantined, delivery progress
// survives a crash, and terminal failures go to the dead-letter store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { countLines } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { decodeChunkFile } from '../../host/storage/chunk-file.ts';
import { CHUNK_TARGET_BYTES } from '../../host/engine/chunk.ts';

const FLAKY = JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'));

const indent = (text: string, by: string) => text.trim().split('\n').map((l) => by + l.trim()).join('\n');

/** A config with the HTTP API and the flaky plugin; the rest comes as YAML lines per section. */
function config(dir: string, name: string, service: string, inputs: string, outputs: string): string {
  return writeConfig(dir, `
service:
  http_server: on
  http_port: 0
${indent(service, '  ')}
plugins:
  flaky: { command: [${FLAKY}] }
pipeline:
  inputs:
${indent(inputs, '    ')}
  outputs:
${indent(outputs, '    ')}
`, name);
}

// 1/16 of the 2 MiB a chunk seals at: 100 events fill at least six chunks by size alone. Sealed
// by the flush timer instead, how many chunks there are depends on how late the timers run (a
// busy machine made 4 out of 1000 small events).
const SAMPLES = 100;
const EVENT = JSON.stringify({ msg: 'x'.repeat(CHUNK_TARGET_BYTES / 16) });

/** Runs until SAMPLES events sit in chunk files held by an always-RETRY output, then kill -9. */
async function leaveChunksOnDisk(dir: string): Promise<string> {
  const samples = SAMPLES;
  const s = Sluice.run(config(dir, 'first.yaml', `
    flush: 0.05
    storage.path: ${dir}/storage
    scheduler.base: 30
  `, `
    - { name: dummy, alias: gen, rate: 2000, samples: ${samples}, storage.type: filesystem, dummy: '${EVENT}' }
  `, `
    - { name: flaky, match: '*', always_retry: on, retry_limit: no_limits }
  `));
  await waitFor(async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_records_total', { name: 'gen' }) === samples, 'all samples read');
  await waitFor(async () => (await s.api('/api/v1/storage')).storage_layer.chunks.open_events === 0, 'every chunk sealed');
  s.kill('SIGKILL');
  await s.exit();
  return join(dir, 'storage', 'gen');
}

test('corrupt chunk files (truncated, a flipped byte, wrong magic) are quarantined; every healthy chunk is delivered', async () => {
  const dir = tempDir();
  const chunkDir = await leaveChunksOnDisk(dir);
  const files = readdirSync(chunkDir).filter((f) => f.endsWith('.chunk')).sort();
  assert.ok(files.length >= 5, `only ${files.length} chunk files`);
  const count = (f: string) => decodeChunkFile(f, readFileSync(join(chunkDir, f)), true).count;
  const [truncated, flipped, magic] = files as [string, string, string];
  const lost = count(truncated) + count(flipped) + count(magic);
  const path = (f: string) => join(chunkDir, f);
  truncateSync(path(truncated), readFileSync(path(truncated)).length - 7);
  const b = readFileSync(path(flipped));
  b[b.length - 3]! ^= 0x40;
  writeFileSync(path(flipped), b);
  const m = readFileSync(path(magic));
  m.write('JUNK', 0);
  writeFileSync(path(magic), m);

  const s = Sluice.run(config(dir, 'second.yaml', `
    storage.path: ${dir}/storage
  `, `
    - { name: stdin }
  `, `
    - { name: flaky, match: '*', alias: out }
    - { name: file, match: '*', path: ${dir}/out.jsonl }
  `));
  try {
    await waitFor(() => countLines(join(dir, 'out.jsonl')) === SAMPLES - lost, `${SAMPLES - lost} healthy events delivered`);
    const reasons = s.logs.filter((l) => l.msg.startsWith('corrupt chunk file moved to quarantine')).map((l) => l.reason);
    assert.equal(reasons.length, 3);
    assert.ok(reasons.some((r) => /truncated: file is \d+ bytes, header says \d+/.test(r)), reasons.join('\n'));
    assert.ok(reasons.some((r) => /CRC32 mismatch/.test(r)), reasons.join('\n'));
    assert.ok(reasons.some((r) => /wrong magic "JUNK"/.test(r)), reasons.join('\n'));
    assert.equal(readdirSync(join(dir, 'storage', 'quarantine')).length, 3);
    assert.equal(metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_storage_quarantined_chunks_total'), 3);
    assert.equal((await s.api('/api/v1/storage')).storage_layer.quarantined_chunks, 3);
    await waitFor(async () => (await s.api('/api/v1/storage')).storage_layer.chunks.total_chunks === 0, 'every chunk released');
    assert.deepEqual(readdirSync(chunkDir).filter((f) => f.endsWith('.chunk')), []);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('after a crash, a chunk goes again only to the outputs that had not acknowledged it', async () => {
  const dir = tempDir();
  const s = Sluice.run(config(dir, 'first.yaml', `
    flush: 0.05
    storage.path: ${dir}/storage
    scheduler.base: 30
  `, `
    - { name: dummy, alias: gen, rate: 2000, samples: 500, storage.type: filesystem }
  `, `
    - { name: file, match: '*', path: ${dir}/out.jsonl }
    - { name: flaky, alias: down, match: '*', always_retry: on, retry_limit: no_limits }
  `));
  await waitFor(() => countLines(join(dir, 'out.jsonl')) === 500, 'the file output to get all 500 events');
  const before = (await s.api('/api/v1/plugins')).plugins.find((p: any) => p.output === 'down').pending;
  assert.ok(before > 0);
  s.kill('SIGKILL');
  await s.exit();

  const again = Sluice.run(config(dir, 'second.yaml', `
    storage.path: ${dir}/storage
    scheduler.base: 30
  `, `
    - { name: stdin }
  `, `
    - { name: file, match: '*', path: ${dir}/out.jsonl }
    - { name: flaky, alias: down, match: '*', always_retry: on, retry_limit: no_limits }
  `));
  try {
    const backlog = await again.waitForLog((l) => l.msg === 'backlog from a previous run queued for delivery', 'the backlog');
    assert.equal(backlog.events, 500);
    const pending = Object.fromEntries((await again.api('/api/v1/plugins')).plugins.map((p: any) => [p.output, p.pending]));
    assert.equal(pending['file.0'], 0);
    assert.equal(pending.down, before);
    assert.equal(countLines(join(dir, 'out.jsonl')), 500);
  } finally {
    again.kill('SIGTERM');
    await again.exit();
  }
});

test('retry_limit: 2 against an always-RETRY plugin: the chunk goes to the dead-letter store with its reason; others unaffected', async () => {
  const dir = tempDir();
  const s = Sluice.run(config(dir, 'sluice.yaml', `
    flush: 0.1
    scheduler.base: 0.05
    scheduler.cap: 0.1
    storage.keep.rejected: on
    storage.rejected.path: ${dir}/rejected
  `, `
    - { name: dummy, samples: 3, rate: 1000, dummy: '{"msg":"hello"}' }
  `, `
    - { name: flaky, alias: down, match: '*', always_retry: on, retry_limit: 2 }
    - { name: file, match: '*', path: ${dir}/out.jsonl }
  `));
  try {
    const record = await waitFor(() => {
      const json = existsSync(join(dir, 'rejected')) && readdirSync(join(dir, 'rejected')).find((f) => f.endsWith('.json'));
      return json && JSON.parse(readFileSync(join(dir, 'rejected', json), 'utf8'));
    }, 'a dead-letter record');
    assert.equal(record.output, 'down');
    assert.equal(record.attempts, 3);
    assert.match(record.reason, /retry_limit 2 exhausted; last answer RETRY: the downstream is down/);
    const kept = join(dir, 'rejected', `${record.chunk_id}.down.chunk`);
    const chunk = decodeChunkFile(kept, readFileSync(kept), true);
    assert.equal(chunk.count, record.records);
    const text = await s.api('/api/v1/metrics/prometheus');
    assert.equal(metric(text, 'sluice_output_dead_letter_chunks_total', { name: 'down' }), 1);
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'down' }), 2);
    assert.equal(metric(text, 'sluice_output_dropped_records_total', { name: 'down', reason: 'retries_exhausted' }), record.records);
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'file.0' }), 0);
    await waitFor(() => countLines(join(dir, 'out.jsonl')) === 3, 'the file output to get all 3 events');
    assert.ok(s.findLog((l) => l.msg === 'chunk given up and kept in the dead-letter store' && l.chunk === record.chunk_id));
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});
