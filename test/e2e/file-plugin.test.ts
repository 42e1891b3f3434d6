// The file plugin after a crash that cut a write in half.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';

test('a half-written last line left by a killed file plugin is cut off before appending', async () => {
  const dir = tempDir();
  const out = join(dir, 'out.jsonl');
  writeFileSync(out, '{"log":"complete"}\n{"log":"half of a li');
  const s = Sluice.run(writeConfig(dir, `
pipeline:
  inputs:
    - { name: dummy, samples: 2, rate: 100, exit_on_eof: on, dummy: '{"log":"new"}' }
  outputs:
    - { name: file, match: '*', path: ${out}, json_date_key: '' }
`));
  const { code } = await s.exit();
  assert.equal(code, 0, s.stderrText.join('\n'));
  assert.equal(readFileSync(out, 'utf8'), '{"log":"complete"}\n{"log":"new"}\n{"log":"new"}\n');
  const warned = s.findLog((l) => /partial last line/.test(l.msg));
  assert.equal(warned?.bytes, 20);
  assert.equal(warned?.offset, 19);
});
