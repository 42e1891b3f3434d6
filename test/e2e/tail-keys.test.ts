// tail's Fluent Bit keys: skip_empty_lines, offset_key, ignore_older.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { ROOT, Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';

test('skip_empty_lines drops empty lines, offset_key gives each line\'s byte offset, ignore_older leaves old files alone', async () => {
  const dir = tempDir();
  const text = 'first\n\nsecond\r\n\r\nthird ü\n';
  writeFileSync(join(dir, 'new.log'), text);
  writeFileSync(join(dir, 'old.log'), 'from an old file\n');
  const old = Date.now() / 1000 - 3 * 86400;
  utimesSync(join(dir, 'old.log'), old, old);
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
pipeline:
  inputs:
    - name: tail
      path: ${dir}/*.log
      tag: t
      read_from_head: true
      exit_on_eof: true
      skip_empty_lines: on
      offset_key: offset
      ignore_older: 2d
  outputs:
    - name: file
      match: '*'
      path: ${dir}/out.jsonl
      json_date_key: ''
`), [], { cwd: ROOT });
  assert.equal((await s.exit()).code, 0, s.stderrText.join('\n'));
  const out = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const bytes = Buffer.from(text);
  assert.deepEqual(out, [
    { log: 'first', offset: 0 },
    { log: 'second', offset: bytes.indexOf('second') },
    { log: 'third ü', offset: bytes.indexOf('third') },
  ]);
});
