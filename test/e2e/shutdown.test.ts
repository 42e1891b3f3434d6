// Shutdown: the first SIGINT drains within grace and writes offsets; a
// second one exits at once after writing them; with filesystem storage a
// restart after either loses nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';

const BATCHER = JSON.stringify(join(FIXTURES, 'plugins/batcher.ts'));
const LINES = 20_000;
const GRACE_S = 4;

function setup() {
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  const db = join(dir, 'tail.db');
  appendNumbered(input, 'l', 0, LINES);
  const file = writeConfig(dir, `
service:
  flush: 0.2
  grace: ${GRACE_S}
  http_server: on
  http_port: 0
  storage.path: ${dir}/storage
plugins:
  batcher: { command: [${BATCHER}] }
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: on, db: ${db}, db.sync_interval: 60, storage.type: filesystem }
  outputs:
    - { name: batcher, match: '*', path: ${out}, linger: 30, workers: 4 }
`);
  return { dir, input, out, db, file };
}

/** Runs sluice until every line is read and chunks sit in the slow plugin. */
async function startLoaded(file: string): Promise<Sluice> {
  const s = Sluice.run(file);
  await waitFor(async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_records_total', { name: 'tail.0' }) === LINES, 'every line read');
  await waitFor(async () => (await s.api('/api/v1/plugins')).plugins[0].in_flight > 0, 'chunks in flight to the slow plugin');
  return s;
}

function dbOffset(db: string, input: string): number {
  return JSON.parse(readFileSync(db, 'utf8')).files[input].offset;
}

function delivered(out: string): Set<number> {
  return new Set(readDelivered(out).byPrefix.get('l'));
}

test('one SIGINT with data pending and a slow plugin: drained within grace, exit 0, offsets written', async () => {
  const { input, out, db, file } = setup();
  const s = await startLoaded(file);
  s.kill('SIGINT');
  const { code } = await s.exit();
  assert.equal(code, 0);
  // Timed by sluice's own clock, from its first word about stopping to its last: how long the
  // test waited for the process to start, be scheduled or be reaped is no part of the promise.
  const took = s.findLog((l) => l.msg === 'sluice stopped')!.time - s.findLog((l) => l.msg.startsWith('stopping'))!.time;
  assert.ok(took < GRACE_S * 1000 + 1500, `shutdown took ${took} ms with grace ${GRACE_S} s`);
  assert.equal(delivered(out).size, LINES);
  assert.equal(dbOffset(db, input), statSync(input).size);
  assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { 'batcher.0': LINES });

  const again = Sluice.run(file);
  await again.started();
  again.kill('SIGINT');
  assert.equal((await again.exit()).code, 0);
  assert.equal(readDelivered(out).total, LINES, 'a restart sent something again');
});

test('two SIGINTs: exit within one second with status 130, offsets written; a restart delivers the rest', async () => {
  const { input, out, db, file } = setup();
  const s = await startLoaded(file);
  s.kill('SIGINT');
  await s.waitForLog((l) => l.msg.startsWith('stopping'), 'the first SIGINT to be handled');
  const sent = Date.now();
  s.kill('SIGINT');
  const { code } = await s.exit();
  assert.equal(code, 130);
  // Up to sluice's last log line, stamped just before process.exit: not up to when this (maybe
  // starved) test process saw the exit, nor 'close', which waits for the plugins to let go of
  // sluice's stdout.
  const took = s.findLog((l) => l.msg.startsWith('second signal'))!.time - sent;
  assert.ok(took < 1000, `took ${took} ms`);
  assert.equal(dbOffset(db, input), statSync(input).size);

  const again = Sluice.run(file);
  await again.waitForLog((l) => l.msg === 'backlog from a previous run queued for delivery', 'the backlog');
  again.kill('SIGINT');
  assert.equal((await again.exit()).code, 0);
  assert.equal(delivered(out).size, LINES);
});
