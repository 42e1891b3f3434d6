// Acceptance: a full disk never crashes the host and loses nothing. The disks
// are real: small tmpfs mounts (root only; the tests skip without mount
// rights), filled with a filler file until writes get ENOSPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { appendNumbered, countLines, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

const FLAKY = JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'));
const BATCH = 2000;

function ordered(list: number[] | undefined, n: number): boolean {
  return list !== undefined && list.length === n && list.every((v, i) => v === i);
}

test('storage.path fills up: chunk files and deliveries.log fail, the host keeps delivering, and once space returns every line arrives exactly once', async (t) => {
  const dir = tempDir();
  const storage = Tmpfs.mount(join(dir, 'storage'), '4m');
  if (typeof storage === 'string') return t.skip(storage);
  t.after(() => storage.unmount());
  const out = Tmpfs.mount(join(dir, 'out'), '1m');
  if (typeof out === 'string') return t.skip(out);
  t.after(() => out.unmount());

  const input = join(dir, 'in.log');
  const outFile = join(out.dir, 'a.jsonl');
  const outage = join(dir, 'outage');
  writeFileSync(input, '');
  writeFileSync(outage, '');
  // Output a's disk is full from the start: it answers RETRY until the test frees it.
  out.fill();
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 0.5
  storage.path: ${storage.dir}
plugins:
  flaky: { command: [${FLAKY}] }
pipeline:
  inputs:
    - { name: tail, alias: in, path: ${input}, read_from_head: on, storage.type: filesystem }
  outputs:
    - { name: file, alias: a, match: '*', path: ${outFile}, json_date_key: '', retry_limit: no_limits }
    - { name: flaky, alias: b, match: '*', fail_while_exists: ${outage}, retry_limit: no_limits }
`));
  try {
    const prom = async (): Promise<string> => {
      // On a loaded machine a request can meet a keep-alive socket the server just closed: ask again.
      for (let i = 0; ; i++) {
        try {
          return await s.api('/api/v1/metrics/prometheus');
        } catch (err) {
          if (i >= 5 || s.proc.exitCode !== null) throw err;
        }
      }
    };
    const m = async (name: string, labels: { [k: string]: string } = {}) => metric(await prom(), name, labels);
    const chunkFiles = () => readdirSync(join(storage.dir, 'in')).filter((f) => f.endsWith('.chunk')).length;

    // 1. Lines stored as chunk files while both outputs are down.
    appendNumbered(input, 'L', 0, BATCH);
    await waitFor(async () => (await m('sluice_input_records_total', { name: 'in' })) === BATCH && chunkFiles() > 0, 'the first lines in chunk files',
      { progress: () => m('sluice_input_records_total', { name: 'in' }) });
    await waitFor(async () => (await s.api('/api/v1/storage')).storage_layer.chunks.open_events === 0, 'every chunk sealed');

    // 2. storage.path fills up. Output a comes back: its acknowledgements cannot be written to deliveries.log.
    storage.fill();
    out.free();
    await waitFor(async () => (await m('sluice_storage_write_errors_total', { what: 'delivery_log' })) > 0, 'a deliveries.log write error',
      { progress: () => countLines(outFile) });
    // New lines: their chunk files cannot be written; they are delivered from memory.
    appendNumbered(input, 'L', BATCH, 2 * BATCH);
    await waitFor(async () => (await m('sluice_storage_write_errors_total', { what: 'chunk' })) > 0, 'a chunk write error',
      { progress: () => m('sluice_input_records_total', { name: 'in' }) });
    await waitFor(() => countLines(outFile) === 2 * BATCH, `output a to have ${2 * BATCH} lines`, { progress: () => countLines(outFile) });
    appendNumbered(input, 'L', 2 * BATCH, 3 * BATCH);
    await waitFor(() => countLines(outFile) === 3 * BATCH, `output a to have ${3 * BATCH} lines`, { progress: () => countLines(outFile) });
    assert.ok((await m('sluice_storage_write_errors_total', { what: 'chunk' })) >= 2, 'every flush on the full disk failed');
    // Logged once per outage, not per chunk or per acknowledgement.
    assert.equal(s.logs.filter((l) => l.msg.startsWith('cannot write chunk files')).length, 1);
    assert.equal(s.logs.filter((l) => l.msg.startsWith('cannot write the delivery log')).length, 1);
    assert.ok(!s.logs.some((l) => /uncaught|unhandled/i.test(l.msg)), 'an uncaught error was logged');

    // 3. Space returns and output b comes back: writes resume, and everything arrives.
    storage.free();
    rmSync(outage);
    appendNumbered(input, 'L', 3 * BATCH, 4 * BATCH);
    const total = 4 * BATCH;
    await waitFor(async () => (await m('sluice_output_proc_records_total', { name: 'b' })) === total && countLines(outFile) === total, 'every line delivered to both outputs',
      { progress: async () => (await m('sluice_output_proc_records_total', { name: 'b' })) + countLines(outFile) });
    await s.waitForLog((l) => l.msg === 'chunk files are written again', 'chunk writes to resume');
    await s.waitForLog((l) => l.msg === 'the delivery log is written again', 'deliveries.log writes to resume');
    const got = readDelivered(outFile);
    assert.ok(ordered(got.byPrefix.get('L'), total), 'output a did not get every line exactly once, in order');
    assert.equal(got.total, total);

    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0);
    assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { a: total, b: total });
    assert.deepEqual(readdirSync(join(storage.dir, 'in')), [], 'chunk files left after everything was delivered');
  } finally {
    if (s.proc.exitCode === null) {
      s.kill();
      await s.exit();
    }
  }
});

test('file plugin: a disk that fills up in the middle of a chunk gets RETRY, and after space returns every line is there exactly once', async (t) => {
  const dir = tempDir();
  const out = Tmpfs.mount(join(dir, 'out'), '1m');
  if (typeof out === 'string') return t.skip(out);
  t.after(() => out.unmount());
  const input = join(dir, 'in.log');
  const outFile = join(out.dir, 'a.jsonl');
  // 3,000 lines are about 270 KB of JSON; 64 KB of room cuts the first chunk's write short.
  appendNumbered(input, 'L', 0, 3000);
  writeFileSync(outFile, '');
  out.fill(64 * 1024);
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 0.5
pipeline:
  inputs:
    - { name: tail, alias: in, path: ${input}, read_from_head: on }
  outputs:
    - { name: file, alias: a, match: '*', path: ${outFile}, json_date_key: '', retry_limit: no_limits }
`));
  try {
    const retries = async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_output_retries_total', { name: 'a' });
    await waitFor(async () => (await retries()) > 0, 'a RETRY from the file plugin', { progress: () => s.logs.length });
    assert.ok(s.logs.some((l) => l.msg === 'chunk will be retried' && /cannot write .*a\.jsonl: ENOSPC/.test(l.reason)), 'no RETRY for ENOSPC in the logs');
    // Whatever got through before the error was cut off again: only whole chunks are in the file.
    const before = readDelivered(outFile);
    assert.ok(before.total < 3000);
    out.free();
    await waitFor(() => countLines(outFile) === 3000, 'every line written', { progress: () => countLines(outFile) });
    const got = readDelivered(outFile);
    assert.ok(ordered(got.byPrefix.get('L'), 3000), 'not every line exactly once, in order');
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
  } finally {
    if (s.proc.exitCode === null) {
      s.kill();
      await s.exit();
    }
  }
});
