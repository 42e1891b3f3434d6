// The plugin built directly on hashicorp/go-plugin (examples/go/goplugin,
// docs/protocol.md §9): compiled once with scripts/go.sh, then checked with
// `sluice plugin check`, driven through both protocol versions' drains with
// the harness, and run end to end through the real host across a reload and
// a SIGKILL of the plugin.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAIN, ROOT, Sluice, runCommand, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { countLines } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { startPlugin } from '../../sdk/src/harness.ts';
import type { RuleResult } from '../../host/plugin-kit/check.ts';

const BUILD_DIR = tempDir('sluice-goplugin-');
const BIN = join(BUILD_DIR, 'goplugin');

before(async () => {
  // Cold, this compiles grpc-go and protobuf: about 20 s on two cores; a second or two once cached.
  await promisify(execFile)(join(ROOT, 'scripts/go.sh'), ['build', '-o', BIN, './examples/go/goplugin'], { cwd: ROOT });
});
after(() => rmSync(BUILD_DIR, { recursive: true, force: true }));

test('sluice plugin check passes it (go-plugin 1.0.1: version 2 picked; offered 99, it prints its own version)', async () => {
  const out = join(tempDir(), 'check.jsonl');
  const run = await runCommand(process.execPath, [MAIN, 'plugin', 'check', '--json', '--config', `path=${out}`, '--', BIN]);
  const { results } = JSON.parse(run.stdout) as { results: RuleResult[] };
  const table = results.map((r) => `${r.status} ${r.rule}${r.reason ? `: ${r.reason}` : ''}`).join('\n');
  // go-plugin's own plugins do not read chunks by reference: sluice sends them bytes.
  assert.deepEqual(results.filter((r) => r.status !== 'pass').map((r) => r.rule), ['flush.ref', 'flush.ref-unreadable'], table);
  assert.equal(run.code, 0, table);
  const by = new Map(results.map((r) => [r.rule, r]));
  assert.match(by.get('flush.ref')!.reason ?? '', /does not declare the chunk_ref capability/);
  assert.equal(by.get('version.offered-1-2')!.reason, 'picked 2');
  assert.match(by.get('version.offered-99')!.reason ?? '', /prints its own version 1/);
  assert.match(readFileSync(out, 'utf8'), /"log":"sluice plugin check 1"/);
});

for (const version of [1, 2]) {
  test(`offered only version ${version}: the drain is answered after the chunk it covers${version === 1 ? ' (Drain returns completed)' : ''}; a chunk that comes during the drain is delivered, not refused`, async () => {
    const dir = tempDir();
    // A FIFO as the file: a write of more than the pipe holds (64 KiB) blocks until the test reads, so the drain comes while a chunk is held.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const h = await startPlugin([BIN], { versions: [version], logLevel: 'debug' });
    let fd: number | undefined;
    try {
      assert.equal(h.version, version);
      assert.equal((await h.describe()).name, 'goplugin-file');
      assert.deepEqual(await h.configure({ path: fifo, chunk_id_key: 'chunk_id' }), []);
      fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const buf = Buffer.alloc(1 << 20);
      let got = '';
      const readPipe = (max: number): void => {
        try {
          const n = readSync(fd!, buf, 0, max, null);
          got += buf.toString('utf8', 0, n);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        }
      };
      const order: string[] = [];
      h.onAnswer((r) => void order.push(r.drained ? 'drain' : r.chunk_id));
      const big = 'x'.repeat(64 * 1024);
      const a = h.flush('t', Array.from({ length: 8 }, (_, n) => ({ log: big, n })), { chunkId: 'A' });
      // Its first bytes in the pipe: the plugin has taken chunk A and is blocked writing it.
      await waitFor(() => (readPipe(1), got.length > 0), 'the plugin to start writing chunk A');
      const drained = h.drain(10_000);
      drained.catch(() => {});
      const draining = await h.waitForLog((l) => l.msg === (version === 1 ? 'draining (version 1)' : 'draining'));
      assert.equal(draining.record!.unanswered, 1);
      // Sent once the plugin is draining (in version 1 chunks can come after Drain; in version 2 sluice sends none after the marker, but a plugin must not care).
      const b = h.flush('t', [{ log: 'after the drain began', n: 8 }], { chunkId: 'B' });
      await waitFor(() => (readPipe(buf.length), got.split('\n').length > 9), 'chunks A and B read from the pipe');
      assert.equal((await a).status, 'OK');
      assert.equal((await b).status, 'OK', 'a chunk that came during the drain was refused');
      await drained;
      if (version === 1) {
        // Drain began with A unanswered, and waits for every send the plugin has taken: A, and B if B came before A was answered.
        const completed = (await h.waitForLog((l) => l.msg === 'drained (version 1)')).record!.completed;
        assert.ok(completed === 1 || completed === 2, `Drain returned with completed ${completed}`);
      } else {
        // The marker's answer came after A's, on the same stream.
        assert.ok(order.indexOf('drain') > order.indexOf('A'), `answers in the order ${order.join(', ')}`);
        assert.deepEqual([...order].sort(), ['A', 'B', 'drain']);
      }
      const rows = got.trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(rows.map((r) => [r.chunk_id, r.n]), [...Array.from({ length: 8 }, (_, n) => ['A', n]), ['B', 8]]);
      assert.equal((await h.stop()).code, 0);
    } finally {
      if (fd !== undefined) closeSync(fd);
      await h.stop();
    }
  });
}

/** A chunk's event count, and the pid of each process that said it wrote the chunk (the plugin's debug line "wrote chunk"). */
interface Written {
  count: number;
  pids: number[];
}

test('through sluice: 20,000 dummy events, a reload that changes its path, a SIGKILL of the plugin: every event arrives, duplicates only from the killed process, no retry', async () => {
  const dir = tempDir();
  const outA = join(dir, 'a.jsonl');
  const outB = join(dir, 'b.jsonl');
  const TOTAL = 20_000;
  const cfg = (path: string) => `
service:
  flush: 0.1
  grace: 10
  log_level: debug
  http_server: on
  http_port: 0
plugins:
  goplugin: { command: [${JSON.stringify(BIN)}] }
pipeline:
  inputs:
    - { name: dummy, samples: ${TOTAL}, rate: 2000, dummy: '{"message":"hello"}' }
  outputs:
    - { name: goplugin, alias: go, match: '*', path: ${JSON.stringify(path)}, chunk_id_key: chunk_id }
`;
  const file = writeConfig(dir, cfg(outA));
  const s = Sluice.run(file);
  try {
    await s.started();
    await waitFor(() => countLines(outA) >= 2000, 'events in the first file', { progress: () => countLines(outA) });

    // A reload (SIGHUP) that changes the output's config: a new process, validated while the old one runs, the old one drained.
    writeFileSync(file, cfg(outB));
    process.kill(s.proc.pid!, 'SIGHUP');
    const reload = await waitFor(async () => {
      const r = await s.api('/api/v2/reload');
      return r.hot_reload_count === 1 && r.last;
    }, 'the reload');
    assert.equal(reload.status, 'ok', JSON.stringify(reload.errors));
    assert.equal(reload.outputs.go.action, 'changed');
    assert.equal(reload.outputs.go.killed, false, 'the old process did not drain in time');

    // A SIGKILL of the plugin process, while events still come. Stopped first, so that chunks are surely in flight to it when it dies.
    await waitFor(() => countLines(outB) >= 2000, 'events in the second file', { progress: () => countLines(outB) });
    const killed: number = (await s.api('/api/v1/plugins')).plugins[0].pid;
    assert.equal(killed, reload.outputs.go.pid_after);
    process.kill(killed, 'SIGSTOP');
    await waitFor(async () => (await s.api('/api/v1/plugins')).plugins[0].in_flight > 0, 'chunks in flight to the stopped plugin');
    const atKill = countLines(outA) + countLines(outB);
    process.kill(killed, 'SIGKILL');
    assert.ok(atKill < TOTAL, `everything was delivered (${atKill}) before the kill`);

    const metrics = () => s.api('/api/v1/metrics/prometheus') as Promise<string>;
    await waitFor(async () => metric(await metrics(), 'sluice_output_proc_records_total', { name: 'go' }) === TOTAL, `all ${TOTAL} events answered OK`, {
      progress: () => countLines(outB),
    });
    const text = await metrics();
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'go' }), 0);
    assert.ok(metric(text, 'sluice_plugin_restarts_total', { name: 'go' }) >= 1, 'the killed plugin was not restarted');
    assert.ok(metric(text, 'sluice_output_requeued_records_total', { name: 'go' }) > 0, 'no chunk was in flight at the kill');
    assert.equal(metric(text, 'sluice_output_dropped_records_total', { name: 'go', reason: 'error' }), 0);

    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
    assert.ok(!s.findLog((l) => /sending SIGTERM/.test(l.msg)), 'a plugin process did not exit after Shutdown');

    // Which process wrote which chunk, from the plugin's own debug lines (sluice adds plugin_pid).
    const written = new Map<string, Written>();
    for (const l of s.logs) {
      if (l.output !== 'go' || l.msg !== 'wrote chunk') continue;
      const w: Written = written.get(l.chunk_id) ?? { count: l.count, pids: [] };
      assert.equal(l.count, w.count, `chunk ${l.chunk_id} written with different counts`);
      w.pids.push(l.plugin_pid);
      written.set(l.chunk_id, w);
    }
    const lines = new Map<string, number>();
    for (const out of [outA, outB]) {
      for (const line of readFileSync(out, 'utf8').split('\n')) {
        if (!line) continue;
        const row = JSON.parse(line);
        assert.equal(row.message, 'hello');
        assert.equal(typeof row.date, 'number');
        lines.set(row.chunk_id, (lines.get(row.chunk_id) ?? 0) + 1);
      }
    }
    for (const id of written.keys()) assert.ok(lines.has(id), `chunk ${id} was written, but is not in the files`);
    let events = 0;
    const duplicated: string[] = [];
    for (const [id, n] of lines) {
      const w = written.get(id);
      assert.ok(w, `chunk ${id} is in the files, but no process said it wrote it`);
      events += w.count;
      // Every process that says so wrote the chunk whole. The killed process may also have written it, whole or in part, without saying so.
      const bySurvivors = w.pids.filter((p) => p !== killed).length;
      const byKilled = n - bySurvivors * w.count;
      const what = `chunk ${id}: ${n} lines of ${w.count} events, written by ${w.pids.join(', ')} (killed: ${killed})`;
      assert.ok(bySurvivors <= 1, what);
      if (bySurvivors === 0) {
        assert.ok(byKilled === w.count && w.pids.includes(killed), what);
      } else {
        assert.ok(byKilled >= 0 && byKilled <= w.count, what);
        if (byKilled > 0) duplicated.push(id);
      }
    }
    assert.equal(events, TOTAL, 'events in the files');
    // Only chunks in flight at the kill come twice: at most workers (2) of them.
    assert.ok(duplicated.length <= 2, `${duplicated.length} chunks duplicated: ${duplicated.join(', ')}`);
  } finally {
    s.kill('SIGKILL');
    await s.exit();
  }
});
