// The bundled counter plugin on its own, through the SDK's harness: it
// decodes every event and counts events and chunks, in its metrics and in
// a total logged at exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startPlugin } from '../../sdk/src/harness.ts';
import { encodeEvents } from '../../sdk/src/index.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));

test('counts decoded events and chunks in its metrics and logs the total at exit; a count that differs from the events is warned about; undecodable bytes are RETRY', async (t) => {
  const plugin = await startPlugin([process.execPath, PLUGIN], { logLevel: 'debug' });
  t.after(() => plugin.stop());
  assert.equal((await plugin.describe()).name, 'counter');
  assert.deepEqual(await plugin.configure({}), []);
  const counts = async () => {
    const m = await plugin.metrics();
    return [m.find((x) => x.name === 'counter_records_total')?.value, m.find((x) => x.name === 'counter_chunks_total')?.value];
  };
  assert.deepEqual(await counts(), [0, 0]);

  const sizes = [2, 5, 1];
  const answers = await Promise.all(sizes.map((n, c) => plugin.flush('t', Array.from({ length: n }, (_, i) => ({ c, i })), { chunkId: `c${c}` })));
  assert.deepEqual(answers.map((a) => a.status), ['OK', 'OK', 'OK']);
  assert.deepEqual(await counts(), [8, 3]);
  // The debug lines travel on stderr, which can come in after the answers.
  await plugin.waitForLog(() => plugin.logs.filter((l) => l.msg === 'counted').length >= 3);
  const counted = plugin.logs.filter((l) => l.msg === 'counted').map((l) => [l.record?.chunk, l.record?.records]);
  assert.deepEqual(counted.sort(), [['c0', 2], ['c1', 5], ['c2', 1]]);

  // The decoded events are what counts, whatever the chunk says.
  const three = encodeEvents([{ body: { a: 1 } }, { body: { a: 2 } }, { body: { a: 3 } }]);
  assert.equal((await plugin.flush('t', three, { chunkId: 'liar', count: 4 })).status, 'OK');
  const warned = await plugin.waitForLog((l) => l.msg === 'chunk holds a different number of events than declared');
  assert.equal(warned.level, 'warn');
  assert.deepEqual([warned.record?.chunk, warned.record?.declared, warned.record?.decoded], ['liar', 4, 3]);
  assert.deepEqual(await counts(), [11, 4]);

  const bad = await plugin.flush('t', Buffer.from([0xc1]), { chunkId: 'bad' });
  assert.equal(bad.status, 'RETRY');
  assert.match(bad.message, /byte offset 0/);
  assert.deepEqual(await counts(), [11, 4], 'an undecodable chunk was counted');

  assert.deepEqual(await plugin.shutdown(), { code: 0, signal: undefined });
  const total = plugin.logs.find((l) => l.msg === 'counter total');
  assert.equal(total?.level, 'info');
  assert.deepEqual([total?.record?.records, total?.record?.chunks], [11, 4]);
});
