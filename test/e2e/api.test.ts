// The HTTP API's Fluent Bit paths and shapes, and its errors: JSON 404s,
// and 405 with Allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

test('/, /api/v1/uptime, /api/v1/metrics (JSON), /api/v2/metrics/prometheus; unknown paths 404 and wrong methods 405 with Allow', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, http_server: on, http_port: 0 }
pipeline:
  inputs:
    - { name: dummy, rate: 100 }
  outputs:
    - { name: 'null', match: '*' }
`));
  try {
    const port = await s.apiPort();
    const root = await s.api('/');
    assert.match(root.sluice.version, /^\d+\.\d+\.\d+/);
    assert.match(root.sluice.node, /^v\d+\.\d+/);
    const up = await s.api('/api/v1/uptime');
    assert.ok(Number.isInteger(up.uptime_sec) && up.uptime_sec >= 0, JSON.stringify(up));
    assert.match(up.uptime_hr, /^sluice has been running: \d+ days?, \d+ hours?, \d+ minutes? and \d+ seconds?$/);

    let m: any;
    await waitFor(async () => (m = await s.api('/api/v1/metrics')).output['null.0'].proc_records > 0, 'the null output to deliver');
    assert.ok(m.input['dummy.0'].records >= m.output['null.0'].proc_records);
    assert.ok(m.input['dummy.0'].bytes > 0);
    assert.deepEqual(Object.keys(m.output['null.0']).sort(), ['dropped_records', 'errors', 'proc_bytes', 'proc_records', 'retries', 'retries_failed']);
    assert.equal(m.output['null.0'].retries, 0);

    for (const path of ['/api/v1/health', '/api/v2/health']) assert.deepEqual(await s.api(path), { status: 'ok' }, path);
    const v2 = await s.api('/api/v2/metrics/prometheus');
    assert.match(v2, /^sluice_input_records_total\{name="dummy.0"\} \d+$/m);

    const missing = await fetch(`http://127.0.0.1:${port}/api/v9/nothing`);
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error, /no such endpoint \/api\/v9\/nothing/);
    for (const [path, allow] of [['/api/v1/storage', 'GET'], ['/api/v1/metrics', 'GET'], ['/api/v2/reload', 'GET, POST, PUT']] as const) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'DELETE' });
      assert.equal(r.status, 405, path);
      assert.equal(r.headers.get('allow'), allow, path);
      assert.match((await r.json()).error, /DELETE is not supported/);
    }
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});
