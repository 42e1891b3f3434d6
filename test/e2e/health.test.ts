// /api/v1/health and /api/v2/health: Fluent Bit's health_check thresholds,
// and an output without a running plugin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

const fixture = (name: string) => JSON.stringify(join(FIXTURES, 'plugins', name));

async function health(s: Sluice, path: string): Promise<{ code: number; body: any }> {
  const r = await fetch(`http://127.0.0.1:${await s.apiPort()}${path}`);
  return { code: r.status, body: await r.json() };
}

test('health_check: more ERROR answers within hc_period than hc_errors_count make both health endpoints answer 500 with the reason', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.1, http_server: on, http_port: 0, health_check: on, hc_errors_count: 2, hc_retry_failure_count: 100, hc_period: 30 }
plugins:
  flaky: { command: [${fixture('flaky.ts')}] }
pipeline:
  inputs:
    - { name: dummy, rate: 20 }
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl }
    - { name: flaky, match: '*', always_error: on }
`));
  try {
    let errors = 0;
    await waitFor(async () => (errors = s.logs.filter((l) => l.msg === 'chunk dropped after a terminal failure').length) > 2, 'three chunks answered ERROR', { progress: () => errors });
    for (const path of ['/api/v1/health', '/api/v2/health']) {
      const h = await health(s, path);
      assert.equal(h.code, 500, path);
      assert.equal(h.body.status, 'error');
      assert.match(h.body.reasons.join('\n'), /chunks answered ERROR in the last 30 s \(hc_errors_count: 2\)/);
    }
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('an output whose plugin has not been running for a whole hc_period makes sluice unhealthy, even without health_check', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.1, http_server: on, http_port: 0, hc_period: 1 }
plugins:
  early: { command: [${fixture('exits-early.ts')}] }
pipeline:
  inputs:
    - { name: dummy, rate: 20 }
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl }
    - { name: early, match: '*', start_retries: no_limits }
`));
  try {
    let h = await health(s, '/api/v1/health');
    await waitFor(async () => (h = await health(s, '/api/v1/health')).code === 500, 'health to turn 500');
    assert.equal(h.body.status, 'error');
    assert.equal(h.body.reasons.length, 1, h.body.reasons.join('\n'));
    assert.match(h.body.reasons[0], /^output early\.0 has had no running plugin for \d+ s \((backoff|starting)/);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});
