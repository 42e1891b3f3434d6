// The delivery contract of protocol version 2: a hang is never terminal and
// spends no attempt, answers settle only the send they name, workers bounds
// what a plugin holds, a tag's chunks keep their order across a reload
// hand-over, and plugins that speak only version 1 keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';

const plugin = (name: string) => JSON.stringify(join(FIXTURES, 'plugins', name));

function complete(out: string, prefix: string, n: number): boolean {
  try {
    return new Set(readDelivered(out).byPrefix.get(prefix)).size === n;
  } catch {
    return false; // a line being written
  }
}

async function metrics(s: Sluice): Promise<string> {
  return s.api('/api/v1/metrics/prometheus');
}

test('a plugin that stops answering but stays healthy is restarted; its chunks are delivered with attempts unchanged, nothing dropped', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(input, '');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.1
  http_server: on
  http_port: 0
plugins:
  hang: { command: [${plugin('hang.ts')}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, refresh_interval: 0.2 }
  outputs:
    - { name: hang, match: '*', marker: ${dir}/marker, path: ${out}, workers: 2, flush_timeout: 3, retry_limit: no_retries }
`));
  try {
    await s.apiPort();
    // Several chunks: each batch is read and sealed before the next is written.
    for (let i = 0; i < 6; i++) {
      appendNumbered(input, 'l', i * 500, (i + 1) * 500);
      await waitFor(async () => metric(await metrics(s), 'sluice_input_records_total', { name: 'tail.0' }) === (i + 1) * 500, `batch ${i} read`);
    }
    // While hung, the plugin holds at most `workers` payloads, seen by the host and by the plugin itself.
    let maxInFlight = 0;
    let maxHeld = 0;
    await waitFor(async () => {
      const [{ plugins }, text] = await Promise.all([s.api('/api/v1/plugins'), metrics(s)]);
      maxInFlight = Math.max(maxInFlight, plugins[0].in_flight);
      maxHeld = Math.max(maxHeld, metric(text, 'sluice_plugin_held_chunks', { output: 'hang.0' }));
      return metric(text, 'sluice_output_timeouts_total', { name: 'hang.0' }) >= 1;
    }, 'the hung plugin to be detected', { everyMs: 100 });
    assert.ok(maxInFlight >= 1 && maxInFlight <= 2, `in flight ${maxInFlight}, workers 2`);
    assert.ok(maxHeld <= 2, `the plugin held ${maxHeld} payloads, workers 2`);

    await waitFor(() => complete(out, 'l', 3000), 'every line delivered by the restarted plugin');
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 3000, 'no line twice');
    assert.deepEqual([...new Set(rows.map((r) => r.attempt))], [1], 'a hang spent no attempt');
    const text = await metrics(s);
    assert.ok(metric(text, 'sluice_output_timeouts_total', { name: 'hang.0' }) >= 1);
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'hang.0' }), 0);
    assert.equal(metric(text, 'sluice_output_dropped_records_total', { name: 'hang.0', reason: 'retries_exhausted' }), 0);
    assert.equal(metric(text, 'sluice_output_proc_records_total', { name: 'hang.0' }), 3000);
    assert.ok(metric(text, 'sluice_plugin_restarts_total', { name: 'hang.0' }) >= 1);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('an answer that names an earlier send does not settle the current one', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  appendNumbered(input, 'l', 0, 100);
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.1
  http_server: on
  http_port: 0
  scheduler.base: 0.01
  scheduler.cap: 0.05
plugins:
  stale: { command: [${plugin('stale-answer.ts')}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on }
  outputs:
    - { name: stale, match: '*', retry_limit: 3 }
`));
  try {
    // The second send is refused with ERROR: the chunk is given up, never counted delivered.
    await waitFor(async () => metric(await metrics(s), 'sluice_output_dropped_records_total', { name: 'stale.0', reason: 'error' }) === 100, 'the chunk given up after ERROR');
    const ignored = await s.waitForLog((l) => /not in flight/.test(l.msg), 'the stale answer logged and ignored');
    assert.equal(ignored.status, 'OK');
    const text = await metrics(s);
    assert.equal(metric(text, 'sluice_output_proc_records_total', { name: 'stale.0' }), 0);
    assert.equal(metric(text, 'sluice_output_retries_total', { name: 'stale.0' }), 1);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('reloads while chunks are queued for a tag deliver them in order across every hand-over', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(input, '');
  const cfg = (label: string) => `
service:
  flush: 0.05
  http_server: on
  http_port: 0
plugins:
  batcher: { command: [${plugin('batcher.ts')}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, refresh_interval: 0.2 }
  outputs:
    - { name: batcher, alias: b, match: '*', path: ${out}, linger: 0.3, workers: 1, label: '${label}' }
`;
  const file = writeConfig(dir, cfg('gen-0'));
  const s = Sluice.run(file);
  let written = 0;
  // Lines keep coming during the reloads: chunks sealed while the old instance drains must wait for its hand-over.
  const feeder = setInterval(() => {
    appendNumbered(input, 'l', written, written + 50);
    written += 50;
  }, 20);
  try {
    await s.apiPort();
    for (let i = 1; i <= 5; i++) {
      await waitFor(async () => (await s.api('/api/v1/plugins')).plugins[0].pending >= 4, 'a backlog of queued chunks');
      writeFileSync(file, cfg(`gen-${i}`));
      const res = await (await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' })).json();
      assert.equal(res.status, 'ok', JSON.stringify(res.errors));
      assert.equal(res.outputs.b.action, 'changed');
      assert.ok(res.outputs.b.handed_over_chunks > 0, `reload ${i} handed nothing over`);
    }
    clearInterval(feeder);
    await waitFor(() => complete(out, 'l', written), `all ${written} lines`);
    const order = readDelivered(out).byPrefix.get('l')!;
    assert.equal(order.length, written, 'no line twice');
    const firstOutOfOrder = order.findIndex((n, i) => i > 0 && n < order[i - 1]!);
    assert.equal(firstOutOfOrder, -1, `out of order at ${firstOutOfOrder}: ${order.slice(Math.max(0, firstOutOfOrder - 3), firstOutOfOrder + 3).join(' ')}`);
  } finally {
    clearInterval(feeder);
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a plugin that speaks only protocol version 1 still delivers, reloads with Drain, and is configured once per process', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  appendNumbered(input, 'l', 0, 2000);
  const cfg = (workers: number) => `
service:
  flush: 0.1
  http_server: on
  http_port: 0
plugins:
  legacy: { command: [${plugin('legacy-v1.ts')}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, refresh_interval: 0.2 }
  outputs:
    - { name: legacy, match: '*', path: ${out}, workers: ${workers} }
`;
  const file = writeConfig(dir, cfg(1));
  const s = Sluice.run(file);
  try {
    await waitFor(() => complete(out, 'l', 2000), 'the first 2000 lines');
    writeFileSync(file, cfg(2));
    const res = await (await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' })).json();
    assert.equal(res.status, 'ok', JSON.stringify(res.errors));
    assert.equal(res.outputs['legacy.0'].action, 'changed');
    appendNumbered(input, 'l', 2000, 4000);
    await waitFor(() => complete(out, 'l', 4000), 'the next 2000 lines through the new instance');
    assert.equal(readDelivered(out).total, 4000);
    // Version 1 has no validate-only Configure: the new process is configured once, after the old one stopped.
    const configured = s.logs.filter((l) => /^configured \d time/.test(l.msg)).map((l) => l.msg);
    assert.deepEqual(configured, ['configured 1 time(s)', 'configured 1 time(s)']);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('at a stop the host half-closes the Flush stream: the plugin ends it cleanly, never with Canceled', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  appendNumbered(input, 'l', 0, 1000);
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.1
  log_level: debug
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, exit_on_eof: on }
  outputs:
    - { name: file, match: '*', path: ${out} }
`));
  assert.equal((await s.exit()).code, 0);
  assert.ok(complete(out, 'l', 1000));
  await s.waitForLog((l) => l.msg === 'sluice stopped', 'the stop');
  assert.ok(s.findLog((l) => l.output === 'file.0' && /^the host half-closed the Flush stream/.test(l.msg)), 'the plugin never saw the half-close');
  const broken = s.logs.filter((l) => l.output === 'file.0' && l.msg === 'flush stream closed');
  assert.deepEqual(broken.map((l) => l.err?.message ?? l.err), [], 'the plugin saw its Flush stream broken');
});
