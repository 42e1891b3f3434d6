// Acceptance: mem_buf_limit bounds the memory the host really holds, with
// 1,000 tags and a 0.2 s flush (1,000 small chunks sealed five times a second),
// first while the output keeps up, then through an outage until the input is
// paused, then until everything is delivered.
//
// Peak host RSS (VmHWM) of this test on the shared 2-core machine:
//   before (27e37c9: every open chunk 2 MiB, a sealed chunk keeps it):  418 MB
//     (earlier drafts of this test: 294-448 MB; it grows with how many full
//     chunks went through, as malloc hands their touched pages to the
//     1,000 open and up to 128 sealed small chunks, which then pin them)
//   after (open chunks grow from 4 KiB, small chunks copied at seal):  268, 273 MB
// The host alone, tailing 1,000 empty files, is about 150 MB. See bench/RESULTS.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';

const FLAKY = JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'));
const FILES = 1000;
/** Files 0..BUSY-1 get about 4 MiB per round (two full chunks, every page of their buffer touched), the rest two lines. */
const BUSY = 8;
const BUSY_LINES = 40_000;
const QUIET_LINES = 2;
const ROUNDS = 15;
/** The host alone with 1,000 tailed files is about 150 MB; chunks within 8M, in flight and awaiting GC fit in the rest. */
const RSS_BOUND_MB = 350;

function status(pid: number, key: string): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function line(file: number, n: number): string {
  return `file ${String(file).padStart(4, '0')} line ${String(n).padStart(6, '0')} ${'x'.repeat(60)}\n`;
}

test(`${FILES} tags, flush 0.2 s, mem_buf_limit 8M: host peak RSS stays under ${RSS_BOUND_MB} MB, through an output outage, and everything is delivered`, async () => {
  const dir = tempDir();
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const outage = join(dir, 'outage');
  const written = new Array<number>(FILES).fill(0);
  let total = 0;
  const round = () => {
    for (let f = 0; f < FILES; f++) {
      let s = '';
      const n = f < BUSY ? BUSY_LINES : QUIET_LINES;
      for (let i = 0; i < n; i++) s += line(f, written[f]!++);
      appendFileSync(join(logs, `app-${f}.log`), s);
      total += n;
    }
  };
  round();
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 30
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 0.5
plugins:
  flaky: { command: [${FLAKY}] }
pipeline:
  inputs:
    - name: tail
      alias: apps
      path: ${logs}/*.log
      tag: app.*
      read_from_head: on
      # The read buffer is per file: 1,000 of the default 1 MiB would measure tail, not chunks.
      buffer_max_size: 16K
      mem_buf_limit: 8M
  outputs:
    - { name: flaky, match: 'app.*', fail_while_exists: ${outage}, retry_limit: no_limits, workers: 4 }
`));
  const pid = s.proc.pid!;
  const sample = async (name: string, labels: { [k: string]: string }): Promise<number> => {
    // On a loaded machine a request can meet a keep-alive socket the server just closed: ask again.
    for (let i = 0; ; i++) {
      try {
        return metric(await s.api('/api/v1/metrics/prometheus'), name, labels);
      } catch (err) {
        if (i >= 5 || s.proc.exitCode !== null) throw err;
      }
    }
  };
  /** Waits until the metric reaches want; fails only when nothing moves (test/helpers/wait.ts). */
  const reach = (name: string, labels: { [k: string]: string }, want: number) =>
    waitFor(async () => (await sample(name, labels)) >= want, `${name} to reach ${want}`, { progress: () => sample(name, labels) });
  const delivered = ['sluice_output_proc_records_total', { name: 'flaky.0' }] as const;
  try {
    await s.apiPort();
    // Flowing: every round's chunks are sealed (by size or by the flush timer), delivered and freed.
    for (let r = 1; r < ROUNDS; r++) {
      await reach(...delivered, total);
      round();
    }
    // The output goes down: chunks pile up until the input is paused, then wait for it.
    writeFileSync(outage, '');
    for (let r = 0; (await sample('sluice_input_paused_total', { name: 'apps' })) === 0; r++) {
      assert.ok(r < 1000, 'the input was never paused');
      round();
      await reach('sluice_input_records_total', { name: 'apps' }, Math.min(total, (await sample('sluice_input_records_total', { name: 'apps' })) + 1));
    }
    rmSync(outage);
    await reach(...delivered, total);
    const peak = status(pid, 'VmHWM');
    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0);
    assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { 'flaky.0': total });
    console.log(`memory-bound: ${FILES} tags, ${total} events, peak host RSS (VmHWM) ${peak.toFixed(0)} MB`);
    assert.ok(peak < RSS_BOUND_MB, `host peak RSS ${peak.toFixed(0)} MB is over ${RSS_BOUND_MB} MB`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nsluice stderr: ${s.stderrText.slice(-20).join('\n')}\nlast logs: ${s.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
  } finally {
    if (s.proc.exitCode === null) s.kill();
  }
});
