// tail on awkward input: long lines, invalid UTF-8, CRLF, no final newline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';

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
