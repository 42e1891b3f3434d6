// A signal sent the moment sluice says its HTTP API listens is handled like any other.
// sluice used to log "HTTP API listening" before it installed its signal handlers, so a
// signal in between killed it (4 of 15 starts under `npm run test:stress`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

test('SIGHUP the moment the HTTP API listens reloads sluice instead of killing it', async () => {
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
