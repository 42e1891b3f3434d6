// tail on awkward input: long lines, invalid UTF-8, CRLF, no final newline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

test('long lines are truncated, invalid UTF-8 is repaired, both counted and logged with their offset', async () => {
  const dir = tempDir();
  const long = 'L'.repeat(5000);
  writeFileSync(join(dir, 'in.log'), Buffer.concat([
    Buffer.from(`first\r\n${long}\nafter-long\n`),
    Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x0a]), // "bad" + two invalid bytes
    Buffer.from('last line without newline'),
  ]));
  const s = Sluice.run(writeConfig(dir, `
pipeline:
  inputs:
    - name: tail
      path: ${dir}/in.log
      read_from_head: true
      exit_on_eof: true
      buffer_max_size: 1K
  outputs:
    - name: file
      match: '*'
      path: ${dir}/out.jsonl
      json_date_key: ''
`));
  const { code } = await s.exit();
  assert.equal(code, 0, s.stderrText.join('\n'));
  const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).log);
  assert.deepEqual(lines, ['first', 'L'.repeat(1024), 'after-long', 'bad\uFFFD\uFFFD', 'last line without newline']);
  const trunc = s.findLog((l) => /truncated/.test(l.msg));
  assert.equal(trunc?.offset, 7);
  assert.equal(trunc?.path, join(dir, 'in.log'));
  const utf = s.findLog((l) => /not valid UTF-8/.test(l.msg));
  assert.equal(utf?.offset, 7 + 5001 + 11);
});

test('rotation (rename, new file) and deletion lose no line; a deleted file is let go', async () => {
  const dir = tempDir();
  const log = join(dir, 'app.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(log, '');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.1
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: tail, path: ${dir}/*.log, read_from_head: on, refresh_interval: 0.2 }
  outputs:
    - { name: file, match: '*', path: ${out}, json_date_key: '' }
`));
  try {
    const delivered = () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).log) : []);
    await s.apiPort();
    appendFileSync(log, 'before-1\nbefore-2\n');
    await waitFor(() => delivered().length === 2, 'the first lines');
    // Written just before the rename, and a last line without a newline: both belong to the old file.
    appendFileSync(log, 'last-of-old\nunterminated');
    renameSync(log, join(dir, 'app.log.1'));
    writeFileSync(log, 'first-of-new\n');
    await waitFor(() => delivered().includes('first-of-new') && delivered().includes('unterminated'), 'lines from both files');
    const rotatedPid = s.proc.pid!;
    unlinkSync(join(dir, 'app.log.1'));
    await waitFor(() => !readdirSync(`/proc/${rotatedPid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${rotatedPid}/fd/${fd}`).includes('app.log.1');
      } catch {
        return false;
      }
    }), 'the deleted file to be closed');
    const lines = delivered();
    for (const l of ['before-1', 'before-2', 'last-of-old', 'unterminated', 'first-of-new']) assert.equal(lines.filter((x) => x === l).length, 1, `${l}: ${JSON.stringify(lines)}`);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('exit_on_eof waits for every file the first scan finds (30 files)', async () => {
  const dir = tempDir();
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, `f${i}.log`), Array.from({ length: 1000 }, (_, n) => `f${i}-${n}`).join('\n') + '\n');
  const s = Sluice.run(writeConfig(dir, `
pipeline:
  inputs:
    - { name: tail, path: ${dir}/*.log, read_from_head: on, exit_on_eof: on }
  outputs:
    - { name: 'null', match: '*' }
`));
  assert.equal((await s.exit()).code, 0);
  assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { 'null.0': 30_000 });
});
