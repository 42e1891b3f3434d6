// The bundled stdout and counter plugins, fed by the stdin input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';

test('stdin → stdout prints JSON lines on sluice\'s stdout; counter counts them', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.1
pipeline:
  inputs:
    - name: stdin
      exit_on_eof: on
      tag: in
  outputs:
    - name: stdout
      match: in
      json_date_key: ''
    - name: counter
      match: '*'
`), [], { stdin: 'pipe' });
  s.proc.stdin!.end('plain text line\n{"user":"ada","n":3}\n[1,2]\nünïcødé ✓\n');
  const { code } = await s.exit();
  assert.equal(code, 0, s.stderrText.join('\n'));
  const printed = s.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(printed, [{ log: 'plain text line' }, { user: 'ada', n: 3 }, { log: '[1,2]' }, { log: 'ünïcødé ✓' }]);
  const tally = s.findLog((l) => l.msg === 'counter total');
  assert.equal(tally?.records, 4);
  assert.equal(tally?.output, 'counter.0');
  assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { 'stdout.0': 4, 'counter.0': 4 });
});
