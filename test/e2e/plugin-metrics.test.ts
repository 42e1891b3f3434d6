// The plugins' own metrics, re-exposed by the host in Prometheus text: one
// HELP/TYPE group per name across plugins, HELP escaped, the host's
// `output` label never overridden by a plugin's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

const ODD = JSON.stringify(join(FIXTURES, 'plugins', 'odd-metrics.ts'));

test('two plugins reporting the same metric make one group; HELP is escaped; a plugin\'s own output label is kept as plugin_output', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, http_server: on, http_port: 0 }
plugins:
  odd: { command: [${ODD}] }
pipeline:
  inputs:
    - { name: dummy, rate: 50 }
  outputs:
    - { name: odd, alias: a, match: '*' }
    - { name: odd, alias: b, match: '*' }
`));
  try {
    await s.apiPort();
    let text = '';
    await waitFor(async () => {
      text = await s.api('/api/v1/metrics/prometheus');
      return text.split('\n').filter((l) => /^sluice_plugin_odd_chunks_total\{.*\} [1-9]/.test(l)).length === 2;
    }, 'both plugins to report a chunk');
    const lines = text.split('\n');
    const help = lines.filter((l) => l.startsWith('# HELP sluice_plugin_odd_chunks_total '));
    assert.deepEqual(help, ['# HELP sluice_plugin_odd_chunks_total first line\\nsecond \\\\ line'], 'one HELP line, escaped');
    const at = lines.indexOf('# TYPE sluice_plugin_odd_chunks_total counter');
    assert.ok(at > 0, 'one TYPE line');
    assert.equal(lines.filter((l) => l.startsWith('# TYPE sluice_plugin_odd_chunks_total')).length, 1);
    // Both samples right after their TYPE line: one group.
    const samples = lines.slice(at + 1, at + 3);
    assert.deepEqual(samples.map((l) => /output="(\w)"/.exec(l)?.[1]).sort(), ['a', 'b'], samples.join('\n'));
    for (const l of samples) assert.match(l, /^sluice_plugin_odd_chunks_total\{output="[ab]",plugin_output="mine",kind="x"\} \d+$/);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});
