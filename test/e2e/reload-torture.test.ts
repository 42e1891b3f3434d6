// 100 hot reloads at 50,000 lines/s, each a random change: an output option
// (its path kept), an output added or removed, an input changed, an invalid
// config, or nothing. The output that is never removed must hold every line
// exactly as often as its metric says; memory must not grow with the reload
// count; every ready plugin must read as up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { seeded } from '../helpers/random.ts';

const SEED = Number(process.env.SLUICE_TEST_SEED ?? 7);
const RELOADS = Number(process.env.SLUICE_TEST_RELOADS ?? 100);
/**
 * 1,000 lines every 20 ms (50,000 lines/s): 5,000 before each reload, then
 * on while it runs, up to 25,000 more, so that a replaced plugin is still
 * writing while its successor starts. Between reloads the feed pauses,
 * which bounds the whole run.
 */
const BATCH = 1000;
const EVERY_MS = 20;
const LEAD = 5_000;
const MAX_DURING = 25_000;

interface Shape {
  workers: number;
  sync: boolean;
  dateKey: string;
  flushTimeout: number;
  extra: boolean;
  /** tail's buffer_max_size in MiB: a changed input allocates a new read buffer; a leak of old ones shows in RSS. */
  buffer: number;
  invalid: boolean;
}

function config(dir: string, s: Shape): string {
  return `
service:
  flush: 0.2
  grace: 10
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: tail, path: ${dir}/in.log, read_from_head: on, refresh_interval: 0.5, buffer_max_size: ${s.buffer}M }
  outputs:
    - name: file
      alias: keep
      match: '*'
      path: ${dir}/out.jsonl
      workers: ${s.workers}
      sync: ${s.sync ? 'on' : 'off'}
      json_date_key: '${s.dateKey}'
      flush_timeout: ${s.flushTimeout}
${s.invalid ? '      no_such_key: 1\n' : ''}${s.extra ? `    - { name: file, alias: extra, match: '*', path: ${dir}/extra.jsonl }\n` : ''}`;
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

test(`100 reloads at 50,000 lines/s with random changes lose nothing, leak nothing, and keep sluice_plugin_up true (seed ${SEED})`, async () => {
  const rand = seeded(SEED);
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(input, '');
  let shape: Shape = { workers: 2, sync: false, dateKey: 'date', flushTimeout: 60, extra: false, buffer: 2, invalid: false };
  const file = writeConfig(dir, config(dir, shape));
  const s = Sluice.run(file);
  let written = 0;
  let budget = 0;
  // Feeds while budget lasts.
  const feeder = setInterval(() => {
    if (budget <= 0) return;
    appendNumbered(input, 'l', written, written + BATCH, 20);
    written += BATCH;
    budget -= BATCH;
  }, EVERY_MS);
  const delivered = async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_output_proc_records_total', { name: 'keep' });
  /** RSS once everything written so far is delivered, so that buffers in use do not count. */
  const settledRss = async () => {
    await waitFor(async () => budget <= 0 && (await delivered()) >= written, 'the lines written so far delivered', { everyMs: 200 });
    return rss(s.proc.pid!);
  };
  let rssAt10 = 0;
  let rssAt100 = 0;
  const kinds: { [k: string]: number } = {};
  try {
    const port = await s.apiPort();
    for (let i = 1; i <= RELOADS; i++) {
      const roll = rand();
      const next = { ...shape, invalid: false };
      let kind: string;
      if (roll < 0.4) {
        kind = 'output option';
        const which = Math.floor(rand() * 4);
        if (which === 0) next.workers = 1 + Math.floor(rand() * 4);
        else if (which === 1) next.sync = !next.sync;
        else if (which === 2) next.dateKey = next.dateKey ? '' : 'date';
        else next.flushTimeout = 30 + Math.floor(rand() * 60);
      } else if (roll < 0.6) {
        kind = next.extra ? 'output removed' : 'output added';
        next.extra = !next.extra;
      } else if (roll < 0.8) {
        kind = 'input changed';
        next.buffer = next.buffer === 2 ? 3 : 2;
      } else if (roll < 0.9) {
        kind = 'invalid';
        next.invalid = true;
      } else kind = 'nothing';
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      writeFileSync(file, config(dir, next));
      budget = LEAD + MAX_DURING;
      await waitFor(() => budget <= MAX_DURING, 'the lead-in written', { everyMs: 5 });
      const res = await (await fetch(`http://127.0.0.1:${port}/api/v2/reload?wait=true`, { method: 'POST' })).json();
      budget = 0;
      if (kind === 'invalid') {
        assert.equal(res.status, 'failed', `reload ${i} (${kind}) was accepted`);
        assert.match(res.errors.join('\n'), /no_such_key/);
      } else {
        assert.equal(res.status, 'ok', `reload ${i} (${kind}): ${JSON.stringify(res.errors)}`);
        shape = next;
      }
      // Instance metrics belong to the live instance: every ready plugin reads as up.
      const [{ plugins }, text] = await Promise.all([s.api('/api/v1/plugins'), s.api('/api/v1/metrics/prometheus')]);
      for (const p of plugins) {
        if (p.state === 'ready') assert.equal(metric(text, 'sluice_plugin_up', { name: p.output }), 1, `after reload ${i} (${kind}): ${p.output} is ready but sluice_plugin_up is not 1`);
      }
      if (i === 10) rssAt10 = await settledRss();
    }
    rssAt100 = await settledRss();
    const total = written;
    await waitFor(async () => (await delivered()) >= total, `all ${total} lines delivered`, { everyMs: 200 });
    const counted = await delivered();
    const lines = readDelivered(out).byPrefix.get('l') ?? [];
    const seen = new Set(lines);
    const missing = total - seen.size;
    const t = { written: total, in_file: lines.length, distinct: seen.size, metric: counted, rss_at_10: rssAt10, rss_at_100: rssAt100, kinds };
    console.log(`# reload torture: ${JSON.stringify(t)}`);
    assert.equal(missing, 0, `${missing} lines missing from the output that was never removed: ${JSON.stringify(t)}`);
    assert.equal(lines.length, counted, `the file holds ${lines.length} lines, the metric counts ${counted}`);
    assert.ok(rssAt100 <= rssAt10 * 1.2, `RSS grew from ${(rssAt10 / 2 ** 20).toFixed(1)} MiB after reload 10 to ${(rssAt100 / 2 ** 20).toFixed(1)} MiB after reload 100`);
  } finally {
    clearInterval(feeder);
    s.kill('SIGTERM');
    await s.exit();
  }
});
