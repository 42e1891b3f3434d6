// The harness itself: what a plugin author relies on when a plugin misbehaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startPlugin } from '../src/harness.ts';

const NULL_PLUGIN = fileURLToPath(new URL('../../plugins/null/main.ts', import.meta.url));

test('the harness starts a plugin, flushes to it and stops it', async () => {
  const plugin = await startPlugin([process.execPath, NULL_PLUGIN]);
  try {
    assert.equal(plugin.version, 2);
    assert.deepEqual(await plugin.configure({}), []);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => plugin.flush('t', [{ n: i }])));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set(['OK']));
    assert.deepEqual(plugin.unmatchedAnswers, []);
  } finally {
    assert.equal((await plugin.stop()).code, 0);
  }
});
