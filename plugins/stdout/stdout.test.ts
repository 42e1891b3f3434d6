// The bundled stdout plugin on its own, through the SDK's harness: events
// come out as JSON lines on fd 3, which sluice makes its own stdout (the
// harness captures it as hostStdout). That sluice hands it its stdout is
// test/e2e/bundled-plugins.test.ts's business.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startPlugin, type PluginHarness } from '../../sdk/src/harness.ts';
import { EventTime, encodeEvents } from '../../sdk/src/index.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));

async function start(t: TestContext): Promise<PluginHarness> {
  const plugin = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => plugin.stop());
  return plugin;
}

const time = new EventTime(1764648000, 125_000_000);
const lineCount = (n: number) => (text: string) => text.split('\n').length - 1 >= n;

test('prints each event as a JSON line on fd 3, the time under json_date_key (date by default); nothing on its own stdout', async (t) => {
  const plugin = await start(t);
  const d = await plugin.describe();
  assert.equal(d.name, 'stdout');
  assert.deepEqual(d.config.map((k) => [k.name, k.default]), [['json_date_key', 'date']]);
  assert.deepEqual(await plugin.configure({}), []);
  const chunk = encodeEvents([
    { body: { log: 'plain text line' }, time, metadata: { not: 'printed' } },
    { body: { user: 'ada', n: 3, list: [1, 'two'], text: 'ünïcødé ✓' }, time },
  ]);
  assert.equal((await plugin.flush('in', chunk, { count: 2 })).status, 'OK');
  const printed = await plugin.waitForHostStdout(lineCount(2));
  assert.equal(printed,
    '{"date":1764648000.125,"log":"plain text line"}\n' +
    '{"date":1764648000.125,"user":"ada","n":3,"list":[1,"two"],"text":"ünïcødé ✓"}\n');
  await plugin.stop();
  assert.deepEqual(plugin.stdout, []);
});

test('json_date_key names the time key, or leaves it out when empty; chunks print in the order they came', async (t) => {
  for (const [key, first] of [['', '{"i":0}'], ['ts', '{"ts":1764648000.125,"i":0}']] as const) {
    const plugin = await start(t);
    assert.deepEqual(await plugin.configure({ json_date_key: key }), []);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => plugin.flush('in', encodeEvents([{ body: { i }, time }]))));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set(['OK']));
    const printed = (await plugin.waitForHostStdout(lineCount(10))).split('\n').slice(0, -1);
    assert.equal(printed[0], first);
    assert.deepEqual(printed.map((l) => JSON.parse(l).i), Array.from({ length: 10 }, (_, i) => i));
    await plugin.stop();
  }
});

test('a chunk that is not MessagePack events is answered RETRY naming the decode error, and prints nothing; an unknown key is refused', async (t) => {
  const plugin = await start(t);
  assert.deepEqual(await plugin.configure({ json_date_kay: 'x' }), [{ key: 'json_date_kay', message: 'unknown key; did you mean "json_date_key"?' }]);
  assert.deepEqual(await plugin.configure({}), []);
  const r = await plugin.flush('in', Buffer.from([0xc1, 0x00, 0xff]));
  assert.equal(r.status, 'RETRY');
  assert.match(r.message, /byte offset/);
  assert.equal((await plugin.flush('in', [{ after: true }])).status, 'OK');
  await plugin.waitForHostStdout(/after/);
  assert.equal((await plugin.stop()).code, 0);
  assert.equal(plugin.hostStdout.split('\n').length - 1, 1, 'the bad chunk printed something');
});
