// Chunks handed to local plugins by reference (issue 12): with filesystem
// storage the plugin reads the chunk file, with memory storage a file in the
// host's private tmpfs directory, removed when the chunk is released (and the
// directory at exit); a plugin that cannot read a reference gets the chunk
// again by bytes, with the same attempt and no retry counted, after one
// warning; chunk_handover: bytes and SLUICE_CHUNK_HANDOVER=bytes send bytes.
// Every config that expects references says chunk_handover: auto, so the file
// holds when the suite runs with SLUICE_CHUNK_HANDOVER=bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, countLines } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';

const PROBE = JSON.stringify(join(FIXTURES, 'plugins', 'ref-probe.ts'));
const HANDOVER_WARNING = 'the plugin cannot read chunks by reference; sending it bytes until its process is replaced';

interface Row {
  log: string;
  attempt: number;
  via: 'ref' | 'bytes';
}

function rows(file: string): Row[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** The numbers of the lines "l-<n>" delivered, sorted; fails on a line delivered twice. */
function numbers(rs: Row[]): number[] {
  const ns = rs.map((r) => Number(/^l-(\d{7}) /.exec(r.log)![1])).sort((a, b) => a - b);
  assert.equal(new Set(ns).size, ns.length, 'a line was delivered twice');
  return ns;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The host's private reference directories (on /dev/shm, where the tests run). */
function refDirs(pid: number): string[] {
  return readdirSync('/dev/shm').filter((n) => n.startsWith(`sluice-${pid}-`)).map((n) => join('/dev/shm', n));
}

test('filesystem storage: the plugin reads each chunk from its chunk file and gets exactly its events; chunk_handover: bytes gets bytes', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  appendNumbered(input, 'l', 0, 60_000);
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, storage.path: ${dir}/storage }
plugins:
  probe: { command: [${PROBE}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, exit_on_eof: on, storage.type: filesystem }
  outputs:
    - { name: probe, alias: by-ref, match: '*', path: ${dir}/ref.jsonl, workers: 1, chunk_handover: auto }
    - { name: probe, alias: by-bytes, match: '*', path: ${dir}/bytes.jsonl, workers: 1, chunk_handover: bytes }
`));
  assert.equal((await s.exit()).code, 0, JSON.stringify(s.logs.slice(-5)));
  for (const [file, via] of [['ref.jsonl', 'ref'], ['bytes.jsonl', 'bytes']] as const) {
    const rs = rows(join(dir, file));
    assert.deepEqual(numbers(rs), range(60_000), file);
    assert.deepEqual([...new Set(rs.map((r) => r.via))], [via], file);
    assert.deepEqual([...new Set(rs.map((r) => r.attempt))], [1]);
  }
  assert.equal(s.findLog((l) => l.level >= 40), undefined, 'no warning');
  assert.deepEqual(readdirSync(join(dir, 'storage', 'tail.0')), [], 'every chunk file released');
  rmSync(dir, { recursive: true, force: true });
});

test('memory storage: chunks go by reference through a private tmpfs directory, its files removed as chunks are released, the directory at exit, stale ones at start', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  writeFileSync(input, '');
  // What a sluice killed by SIGKILL leaves behind.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = join('/dev/shm', `sluice-${dead}-St4le0`);
  mkdirSync(stale);
  writeFileSync(join(stale, 'some-chunk'), 'x');
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.1, http_server: on, http_port: 0 }
plugins:
  probe: { command: [${PROBE}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, refresh_interval: 0.2 }
  outputs:
    - { name: probe, match: '*', path: ${dir}/out.jsonl, workers: 1, chunk_handover: auto }
`));
  try {
    await s.started();
    assert.equal(existsSync(stale), false, 'the directory of a dead sluice is removed at start');
    for (let i = 0; i < 4; i++) appendNumbered(input, 'l', i * 20_000, (i + 1) * 20_000);
    await waitFor(() => countLines(join(dir, 'out.jsonl')) === 80_000, 'every line delivered', { progress: () => countLines(join(dir, 'out.jsonl')) });
    const rs = rows(join(dir, 'out.jsonl'));
    assert.deepEqual(numbers(rs), range(80_000));
    assert.deepEqual([...new Set(rs.map((r) => r.via))], ['ref']);
    const [refDir, ...more] = refDirs(s.proc.pid!);
    assert.ok(refDir, 'the host made its reference directory');
    assert.deepEqual(more, []);
    // The last answer releases the last chunk, then its file goes.
    await waitFor(() => readdirSync(refDir).length === 0, 'the reference files of released chunks to be removed');
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
    assert.deepEqual(refDirs(s.proc.pid!), [], 'the directory is removed at exit');
  } finally {
    s.kill();
    rmSync(stale, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

// Root reads a file of mode 000 through CAP_DAC_OVERRIDE: the probe then runs without it (setpriv,
// util-linux), as a plugin of another user or in another container would.
const AS_ROOT = process.getuid?.() === 0;
const HAS_SETPRIV = spawnSync('setpriv', ['--version']).status === 0;
const probeCommand = AS_ROOT && HAS_SETPRIV ? `[setpriv, --bounding-set, '-dac_override,-dac_read_search', ${PROBE}]` : `[${PROBE}]`;

// A removed chunk file is not among these cases: once a filesystem chunk is down, its file is the
// only copy, and nothing can send it; a plugin that cannot read the store is a matter of permissions.
const CASES = [['filesystem', 'chmod'], ['memory', 'unlink'], ['memory', 'chmod']] as const;
for (const [storage, spoil] of CASES) {
    test(`${storage} storage, references the plugin cannot read (${spoil === 'unlink' ? 'removed' : 'mode 000'}): RETRY with ref_unreadable, one warning, the chunks delivered by bytes, attempts unchanged, no retry counted`, { skip: (spoil === 'chmod' && AS_ROOT && !HAS_SETPRIV && 'runs as root, which reads a file of mode 000, and has no setpriv to drop that') || (storage === 'memory' && !existsSync('/dev/shm') && 'no /dev/shm') }, async () => {
      const dir = tempDir();
      const input = join(dir, 'in.log');
      const marker = join(dir, 'hold');
      writeFileSync(input, '');
      writeFileSync(marker, '');
      // The probe holds its first two chunks until the marker goes, then spoils the reference files
      // of the chunks queued behind them: the chunk files, or the host's tmpfs files, which exist
      // because the copy output already took those chunks by reference.
      const spoilDir = storage === 'filesystem' ? `${dir}/storage/tail.0` : 'host-ref-dir';
      const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.1, http_server: on, http_port: 0, storage.path: ${dir}/storage }
plugins:
  probe: { command: ${probeCommand} }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, refresh_interval: 0.2, storage.type: ${storage} }
  outputs:
    - { name: probe, alias: copy, match: '*', path: ${dir}/copy.jsonl, chunk_handover: auto }
    - { name: probe, alias: probe, match: '*', path: ${dir}/out.jsonl, workers: 2, chunk_handover: auto, hold_while_exists: ${marker}, spoil: ${spoil}, spoil_dir: ${spoilDir} }
`));
      try {
        await s.apiPort();
        const metrics = (): Promise<string> => s.api('/api/v1/metrics/prometheus');
        // Several chunks: each batch is read and sealed before the next is written.
        for (let i = 0; i < 5; i++) {
          appendNumbered(input, 'l', i * 400, (i + 1) * 400);
          await waitFor(async () => metric(await metrics(), 'sluice_input_records_total', { name: 'tail.0' }) === (i + 1) * 400, `batch ${i} read`);
        }
        await waitFor(() => countLines(join(dir, 'copy.jsonl')) === 2000, 'the copy output to take every chunk');
        rmSync(marker);
        await waitFor(() => countLines(join(dir, 'out.jsonl')) === 2000, 'every line delivered to the probe', { progress: () => countLines(join(dir, 'out.jsonl')) });
        const rs = rows(join(dir, 'out.jsonl'));
        assert.deepEqual(numbers(rs), range(2000));
        assert.deepEqual([...new Set(rs.map((r) => r.attempt))], [1], 'no attempt spent');
        assert.ok(rs.some((r) => r.via === 'bytes'), 'the chunks behind the spoiled references came by bytes');

        const warnings = s.logs.filter((l) => l.msg === HANDOVER_WARNING);
        assert.equal(warnings.length, 1, 'one warning per plugin process');
        const [w] = warnings as [typeof warnings[number]];
        assert.equal(w.output, 'probe');
        assert.ok(storage === 'filesystem' ? w.path.startsWith(`${dir}/storage/tail.0/`) && w.path.endsWith('.chunk') : w.path.startsWith(`/dev/shm/sluice-${s.proc.pid}-`), w.path);
        assert.ok(w.plugin_message.includes(w.path) && w.plugin_message.includes(spoil === 'unlink' ? 'ENOENT' : 'EACCES'), w.plugin_message);

        const text = await metrics();
        assert.equal(metric(text, 'sluice_output_retries_total', { name: 'probe' }), 0);
        assert.equal(metric(text, 'sluice_output_proc_records_total', { name: 'probe' }), 2000);
        assert.equal(metric(text, 'sluice_output_dropped_records_total', { name: 'probe', reason: 'error' }), 0);
        assert.equal(metric(text, 'sluice_plugin_restarts_total', { name: 'probe' }), 0);
        assert.equal(s.findLog((l) => l.msg === 'chunk will be retried'), undefined);
      } finally {
        s.kill('SIGTERM');
        await s.exit();
        rmSync(dir, { recursive: true, force: true });
      }
    });
}

test('SLUICE_CHUNK_HANDOVER=bytes makes bytes the default (an output may still say auto); any other value is a config error', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  appendNumbered(input, 'l', 0, 1000);
  const config = writeConfig(dir, `
plugins:
  probe: { command: [${PROBE}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, exit_on_eof: on }
  outputs:
    - { name: probe, alias: default, match: '*', path: ${dir}/default.jsonl, workers: 1 }
    - { name: probe, alias: auto, match: '*', path: ${dir}/auto.jsonl, workers: 1, chunk_handover: Auto }
`);
  const s = Sluice.run(config, [], { env: { SLUICE_CHUNK_HANDOVER: 'bytes' } });
  assert.equal((await s.exit()).code, 0);
  assert.deepEqual([...new Set(rows(join(dir, 'default.jsonl')).map((r) => r.via))], ['bytes']);
  assert.deepEqual([...new Set(rows(join(dir, 'auto.jsonl')).map((r) => r.via))], ['ref']);

  const bad = Sluice.run(config, [], { env: { SLUICE_CHUNK_HANDOVER: 'copy' } });
  assert.equal((await bad.exit()).code, 2);
  assert.match([...bad.stderrText, ...bad.logs.map((l) => l.msg)].join('\n'), /SLUICE_CHUNK_HANDOVER is "copy"; it must be auto or bytes/);
  rmSync(dir, { recursive: true, force: true });
});
