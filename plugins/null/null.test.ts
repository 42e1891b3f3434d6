// The bundled null plugin on its own, through the SDK's harness: it takes
// every chunk, never decodes one, and prints nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startPlugin } from '../../sdk/src/harness.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));

test('answers every chunk OK without decoding it (bytes that are not MessagePack too), drains, prints nothing, exits 0', async (t) => {
  const plugin = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => plugin.stop());
  const d = await plugin.describe();
  assert.deepEqual([d.name, d.config, d.capabilities], ['null', [], ['chunk_ref']]);
  const refused = await plugin.configure({ path: '/x' });
  assert.deepEqual(refused.map((e) => e.key), ['path']);
  assert.match(refused[0]!.message, /^unknown key/);
  assert.deepEqual(await plugin.configure({}), []);
  const garbage = Buffer.from('this is not MessagePack at all');
  const answers = await Promise.all([
    plugin.flush('t', garbage, { count: 7 }),
    // And by reference, as sluice hands chunks to a local plugin.
    plugin.flush('t', garbage, { count: 7, ref: true }),
    ...Array.from({ length: 20 }, (_, i) => plugin.flush('t', [{ i }])),
  ]);
  assert.deepEqual(new Set(answers.map((a) => a.status)), new Set(['OK']));
  assert.deepEqual(await plugin.drain(), { outstanding: 0 });
  const ok = (await plugin.metrics()).find((m) => m.name === 'sdk_flush_answers_total' && m.labels.status === 'ok');
  assert.equal(ok?.value, 22);
  const acked = (await plugin.metrics()).find((m) => m.name === 'null_acked_records_total');
  assert.equal(acked?.value, 7 + 7 + 20, 'the events each chunk declares, summed');
  assert.deepEqual(await plugin.stop(), { code: 0, signal: undefined });
  assert.equal(plugin.hostStdout, '');
  assert.deepEqual(plugin.stdout, []);
  assert.deepEqual(plugin.logs.filter((l) => l.level !== 'info' && l.level !== 'debug').map((l) => l.raw), []);
});
