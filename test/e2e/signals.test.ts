// A signal sent the moment sluice says its HTTP API listens is handled like any other.
//
// Known host bug, hence `todo` (reported, not failing the suite): host/cli/main.ts logs
// "HTTP API listening" before it installs its SIGINT/SIGTERM/SIGHUP handlers, so a signal in
// between gets the default action and kills sluice: no reload, no checkpoint. The window is a few
// statements long, but writing that line wakes the reader, which on a busy machine often runs
// first: 4 of 15 starts died of SIGHUP under `npm run test:stress`. Other tests wait for
// Sluice.started() before they signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

test('SIGHUP the moment the HTTP API listens reloads sluice instead of killing it', { todo: 'host bug: handlers are installed after "HTTP API listening"' }, async () => {
  const file = writeConfig(tempDir(), `
service:
  http_server: on
  http_port: 0
pipeline:
  inputs: [{ name: dummy }]
  outputs: [{ name: 'null', match: '*' }]
`);
  for (let i = 0; i < 8; i++) {
    const s = Sluice.run(file);
    try {
      // On the stream as it arrives, as a supervisor watching the log would, not at the next poll.
      let sent = false;
      s.proc.stderr!.on('data', (d: string) => {
        if (!sent && d.includes('HTTP API listening')) sent = s.proc.kill('SIGHUP');
      });
      const outcome = await waitFor(async () => {
        if (s.proc.exitCode !== null || s.proc.signalCode !== null) return `exited (${s.proc.signalCode ?? s.proc.exitCode})`;
        return (await s.api('/api/v2/reload')).hot_reload_count === 1 && 'reloaded';
      }, 'the reload');
      assert.equal(outcome, 'reloaded', `start ${i + 1}`);
    } finally {
      s.kill('SIGKILL');
      await s.exit();
    }
  }
});
