// service.log_format: text gives lines a person reads; JSON stays the default when stderr is not a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';

test('log_format text: every line of a run is time, level word and message; without it the lines are JSON', async () => {
  for (const format of ['text', 'auto'] as const) {
    const dir = tempDir();
    const s = Sluice.run(writeConfig(dir, `
service: { log_format: ${format} }
pipeline:
  inputs: [{ name: dummy, rate: 100, samples: 5, exit_on_eof: on }]
  outputs: [{ name: 'null', match: '*' }]
`));
    assert.equal((await s.exit()).code, 0, s.stderrText.join('\n'));
    // The helper keeps JSON lines in logs and every other line in stderrText.
    const lines = s.stderrText.filter((l) => l.trim());
    if (format === 'text') {
      assert.equal(s.logs.length, 0, 'no JSON line');
      assert.ok(lines.length > 2, lines.join('\n'));
      for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /, l);
      assert.ok(lines.some((l) => / INFO  sluice stopped .*delivered=/.test(l)), lines.join('\n'));
    } else {
      assert.deepEqual(lines, [], 'only JSON lines');
      assert.ok(s.logs.some((l) => l.msg === 'sluice stopped'));
    }
  }
});
