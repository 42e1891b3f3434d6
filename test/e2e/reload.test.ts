// Hot reload: every plugin acknowledges its flush before it is replaced;
// nothing is lost and no retry budget is spent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, countLines, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';

const BATCHER = JSON.stringify(join(FIXTURES, 'plugins/batcher.ts'));
const FLAKY = JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'));

interface Opts {
  label?: string;
  linger?: number;
  hold?: boolean;
  drainTimeout?: number;
  extraOutputs?: string;
  plugins?: string;
}

function config(dir: string, o: Opts = {}): string {
  return `
service:
  flush: 0.2
  grace: 5
  http_server: on
  http_port: 0
  reload.drain_timeout: ${o.drainTimeout ?? 20}
plugins:
  batcher: { command: [${BATCHER}] }
  flaky: { command: [${FLAKY}] }
${o.plugins ?? ''}
pipeline:
  inputs:
    - { name: tail, path: ${dir}/in.log, read_from_head: on, refresh_interval: 0.2 }
  outputs:
    - name: batcher
      alias: batch
      match: '*'
      path: ${dir}/out.jsonl
      linger: ${o.linger ?? 10}
      hold: ${o.hold ? 'on' : 'off'}
      label: '${o.label ?? ''}'
${o.extraOutputs ?? ''}
`;
}

async function reloadCount(s: Sluice): Promise<number> {
  return (await s.api('/api/v2/reload')).hot_reload_count;
}

async function postReload(s: Sluice): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' });
  return res.json();
}

/** The lines in [0, n) not in the output, as ranges: what a failure should show. */
function missing(out: string, n: number): string {
  const seen = new Set(readDelivered(out).byPrefix.get('l'));
  const ranges: string[] = [];
  for (let i = 0; i < n; i++) {
    if (seen.has(i)) continue;
    let j = i;
    while (j + 1 < n && !seen.has(j + 1)) j++;
    ranges.push(i === j ? `${i}` : `${i}-${j}`);
    i = j;
  }
  return `${n - seen.size} missing: ${ranges.slice(0, 20).join(', ')}${ranges.length > 20 ? ', ...' : ''}`;
}

function allDelivered(out: string, n: number): boolean {
  try {
    return new Set(readDelivered(out).byPrefix.get('l')).size === n;
  } catch {
    return false; // a batch being written
  }
}

test('reload torture: 50 reloads (SIGHUP and HTTP, some changing the output) while a batching plugin lingers 10 s; every event arrives, no retry spent', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(input, '');
  const file = writeConfig(dir, config(dir, { label: 'gen-0' }));
  const s = Sluice.run(file);
  // At most what a quiet machine writes during the 50 reloads: paced by the clock alone, a slow
  // machine would be given more work the slower it is.
  const LINES = 60_000;
  let written = 0;
  const feeder = setInterval(() => {
    if (written === LINES) return;
    appendNumbered(input, 'l', written, written + 50);
    written += 50;
  }, 20);
  try {
    await s.started();
    for (let i = 1; i <= 50; i++) {
      const change = i % 3 !== 0;
      writeFileSync(file, config(dir, { label: change ? `gen-${i}` : `gen-${i - 1}` }));
      if (!change) writeFileSync(file, config(dir, { label: `gen-${i - 1}` }));
      let result;
      if (i % 2) {
        process.kill(s.proc.pid!, 'SIGHUP');
        await waitFor(async () => (await reloadCount(s)) === i, `reload ${i} (SIGHUP)`, { everyMs: 20 });
        result = (await s.api('/api/v2/reload')).last;
      } else {
        result = await postReload(s);
      }
      assert.equal(result.status, 'ok', JSON.stringify(result.errors));
      assert.equal(result.id, i);
      assert.equal(result.outputs.batch.action, change ? 'changed' : 'unchanged', `reload ${i}`);
      if (change) assert.equal(result.outputs.batch.killed, false);
    }
    clearInterval(feeder);
    const total = written;
    // Left lingering, the plugin takes its two chunks in flight (workers) per 10 s: a backlog that a
    // slow machine built up during the reloads would take minutes. One more reload stops the lingering.
    writeFileSync(file, config(dir, { label: 'gen-51', linger: 0.1 }));
    const last = await postReload(s);
    assert.equal(last.status, 'ok', JSON.stringify(last.errors));
    assert.equal(last.outputs.batch.killed, false);
    await waitFor(() => allDelivered(out, total), `all ${total} lines delivered`, { everyMs: 200, progress: () => countLines(out) }).catch(async (err) => {
      const state = { plugins: await s.api('/api/v1/plugins'), storage: await s.api('/api/v1/storage') };
      throw new Error(`${err.message}; ${missing(out, total)}; ${JSON.stringify(state)}`);
    });
    const text = await s.api('/api/v1/metrics/prometheus');
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'batch' }), 0);
    assert.equal(metric(text, 'sluice_output_dropped_records_total', { name: 'batch', reason: 'retries_exhausted' }), 0);
    assert.equal(metric(text, 'sluice_reloads_total', { result: 'ok' }), 51);
    assert.ok(metric(text, 'sluice_reload_drained_chunks_total', { name: 'batch' }) > 0, 'no chunk was ever drained');
  } finally {
    clearInterval(feeder);
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a plugin that ignores Drain is killed at the deadline; its in-flight chunks are delivered by the new instance', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  appendNumbered(input, 'l', 0, 3000);
  const file = writeConfig(dir, config(dir, { hold: true, drainTimeout: 1 }));
  const s = Sluice.run(file);
  try {
    await waitFor(async () => (await s.api('/api/v1/plugins')).plugins[0].in_flight > 0, 'chunks in flight to the stuck plugin');
    writeFileSync(file, config(dir, { hold: false, drainTimeout: 1 }));
    const result = await postReload(s);
    assert.equal(result.status, 'ok', JSON.stringify(result.errors));
    assert.equal(result.outputs.batch.killed, true);
    assert.ok(result.outputs.batch.handed_over_chunks > 0);
    assert.notEqual(result.outputs.batch.pid_after, result.outputs.batch.pid_before);
    // The new instance lingers 10 s; a graceful stop drains it.
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
    assert.ok(allDelivered(out, 3000));
    assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { batch: 3000 });
  } finally {
    s.kill('SIGKILL');
  }
});

test('invalid new configs are refused; the old pipeline keeps delivering; the error is in GET /api/v2/reload and the log', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(input, '');
  const good = config(dir, { label: 'a' });
  const file = writeConfig(dir, good);
  const s = Sluice.run(file);
  try {
    const pid = await waitFor(async () => (await s.api('/api/v1/plugins')).plugins[0].pid, 'the plugin to start');
    const broken: [string, string, RegExp][] = [
      ['schema error', good.replace('linger: 10', 'linger: 10\n      workers: many'), /sluice\.yaml:\d+:\d+: pipeline\.outputs\[0\]\.workers: must be an integer/],
      ['missing plugin', good.replace(`batcher: { command: [${BATCHER}] }`, `batcher: { command: [${JSON.stringify(join(dir, 'gone.ts'))}] }`), /plugins\.batcher\.command: plugin command not found or not runnable: .*gone\.ts does not exist/],
      ['Configure rejects a key', good + `    - { name: flaky, match: '*', always_retry: maybe }\n`, /pipeline\.outputs\[1\]\.always_retry: rejected by plugin: must be a boolean/],
    ];
    let sent = 0;
    for (const [what, text, error] of broken) {
      writeFileSync(file, text);
      const result = await postReload(s);
      assert.equal(result.status, 'failed', what);
      assert.match(result.errors.join('\n'), error, what);
      const last = (await s.api('/api/v2/reload')).last;
      assert.equal(last.status, 'failed');
      assert.ok(s.findLog((l) => l.msg.startsWith('reload refused') && error.test(l.errors.join('\n'))), `${what}: not in the log`);
      appendNumbered(input, 'l', sent, sent + 100);
      sent += 100;
      assert.equal((await s.api('/api/v1/plugins')).plugins[0].pid, pid, `${what}: the running plugin was touched`);
    }
    assert.equal(metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_reloads_total', { result: 'failed' }), 3);
    assert.equal((await s.api('/api/v1/plugins')).plugins.length, 1);
    await waitFor(async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_records_total', { name: 'tail.0' }) === sent, 'every line read');
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
    assert.ok(allDelivered(out, sent), 'the old pipeline did not deliver everything');
  } finally {
    s.kill('SIGKILL');
  }
});

test('across a reload that changes one of two outputs, the unchanged one keeps its pid and the changed one gets a new one; --watch picks up the save', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const second = (size: string) => `    - { name: file, alias: copy, match: '*', path: ${dir}/copy.jsonl, json_date_key: '${size}' }\n`;
  const file = writeConfig(dir, config(dir, { extraOutputs: second('date') }));
  const s = Sluice.run(file, ['--watch']);
  try {
    const pids = async () => Object.fromEntries((await s.api('/api/v1/plugins')).plugins.map((p: any) => [p.output, p.pid]));
    const before = await waitFor(async () => { const p = await pids(); return p.batch && p.copy && p; }, 'both plugins');
    writeFileSync(file, config(dir, { extraOutputs: second('time') }));
    await waitFor(async () => (await reloadCount(s)) === 1, 'the watched file to be reloaded');
    const last = (await s.api('/api/v2/reload')).last;
    assert.equal(last.trigger, 'watch');
    assert.equal(last.status, 'ok');
    assert.equal(last.outputs.copy.action, 'changed');
    assert.equal(last.outputs.batch.action, 'unchanged');
    const after = await pids();
    assert.equal(after.batch, before.batch);
    assert.notEqual(after.copy, before.copy);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('--watch reloads on a change to an included file in another directory, and watches an include a reload added', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, 'more'));
  const output = (alias: string, dateKey: string) => `pipeline:
  outputs:
    - { name: file, alias: ${alias}, match: '*', path: ${dir}/${alias}.jsonl, json_date_key: '${dateKey}' }
`;
  const main = (includes: string[]) => `
includes: [${includes.join(', ')}]
service: { flush: 0.2, http_server: on, http_port: 0 }
pipeline:
  inputs:
    - { name: tail, path: ${dir}/in.log, read_from_head: on, refresh_interval: 0.2 }
`;
  writeFileSync(join(dir, 'sub', 'out.yaml'), output('copy', 'date'));
  writeFileSync(join(dir, 'more', 'out.yaml'), output('extra', 'date'));
  const file = writeConfig(dir, main(['sub/out.yaml']));
  const s = Sluice.run(file, ['--watch']);
  try {
    await s.started();
    const reloaded = async (n: number, what: string) => {
      await waitFor(async () => (await reloadCount(s)) === n, what);
      const last = (await s.api('/api/v2/reload')).last;
      assert.equal(last.trigger, 'watch');
      assert.equal(last.status, 'ok', JSON.stringify(last));
      return last;
    };
    writeFileSync(join(dir, 'sub', 'out.yaml'), output('copy', 'time'));
    assert.equal((await reloaded(1, 'the included file to be reloaded')).outputs.copy.action, 'changed');
    writeFileSync(file, main(['sub/out.yaml', 'more/out.yaml']));
    assert.equal((await reloaded(2, 'the main file to be reloaded')).outputs.extra.action, 'added');
    writeFileSync(join(dir, 'more', 'out.yaml'), output('extra', 'time'));
    const last = await reloaded(3, 'the newly included file to be reloaded');
    assert.equal(last.outputs.extra.action, 'changed');
    assert.equal(last.outputs.copy.action, 'unchanged');
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a reload that changes a tail input hands over its place: no line twice, and the db never passes undelivered lines', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  const db = join(dir, 'tail.db');
  appendNumbered(input, 'l', 0, 1000);
  const cfg = (refresh: number, output: string) => `
service:
  flush: 0.1
  http_server: on
  http_port: 0
plugins:
  flaky: { command: [${FLAKY}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, refresh_interval: ${refresh}, db: ${db}, db.sync_interval: 0.05 }
  outputs:
    - ${output}
`;
  const down = `{ name: flaky, match: '*', always_retry: on, retry_limit: no_limits }`;
  const file = writeConfig(dir, cfg(1, down));
  const s = Sluice.run(file);
  try {
    // The API listens before the plugins are started: a reload sent now must wait for the start.
    // Over HTTP, not SIGHUP: sluice has no SIGHUP handler yet when it says the API listens (see signals.test.ts).
    const early = postReload(s);
    await waitFor(async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_records_total', { name: 'tail.0' }) === 1000, 'every line read once');
    assert.equal((await early).status, 'ok');
    writeFileSync(file, cfg(2, down));
    const result = await postReload(s);
    assert.equal(result.inputs['tail.0'], 'changed');
    await s.settle(300); // several db sync periods
    assert.equal(JSON.parse(readFileSync(db, 'utf8')).files[input].offset, 0, 'the db passed lines no output has delivered');
    assert.equal(metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_records_total', { name: 'tail.0' }), 1000);
  } finally {
    s.kill('SIGKILL');
    await s.exit();
  }
  writeFileSync(file, cfg(2, `{ name: file, match: '*', path: ${out}, json_date_key: '' }`));
  const again = Sluice.run(file);
  try {
    await waitFor(() => allDelivered(out, 1000), 'every line after the crash');
    assert.equal(readDelivered(out).total, 1000);
  } finally {
    again.kill('SIGTERM');
    await again.exit();
  }
});
