// What serve() guarantees around the Flush stream, driven through the
// harness: Describe and Health, Configure (validate-only, per-key errors),
// the half-close before Shutdown, the ways a plugin is told to exit, the
// stdout guard, and what it does when started by hand or by a host it
// cannot speak to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PluginStartError } from '../src/harness.ts';
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from '../src/protocol.ts';
import { fixture, start } from './helpers.ts';

test('Describe tells the plugin\'s name, version, keys with rendered defaults and capabilities; Health answers "plugin" and "", nothing else', async (t) => {
  const plugin = await start(t, 'probe.ts');
  const d = await plugin.describe();
  assert.deepEqual([d.name, d.version, d.description, d.capabilities], ['probe', '1.2.3', 'Says what serve() did', ['drain', 'chunk_ref']]);
  assert.deepEqual(d.config.map((k) => [k.name, k.type, k.default, k.required]), [
    ['reject', 'bool', 'false', false],
    ['fail_drain', 'bool', 'false', false],
    ['label', 'string', '', false],
  ]);
  assert.equal(await plugin.health('plugin'), 'SERVING');
  assert.equal(await plugin.health(''), 'SERVING');
  await assert.rejects(plugin.health('other'), /NOT_FOUND.*unknown service other/);
});

test('a validate-only Configure runs the validate hook, not configure, and leaves the plugin unconfigured; the real Configure follows, once', async (t) => {
  const plugin = await start(t, 'probe.ts');
  assert.deepEqual(await plugin.configure({ label: 'checked' }, { validateOnly: true, instance: 'probe.next' }), []);
  const validated = await plugin.waitForLog(/"validate hook"/);
  assert.deepEqual([validated.record?.instance, validated.record?.label], ['probe.next', 'checked']);
  assert.equal(plugin.logs.filter((l) => l.msg === 'configure hook').length, 0, 'a validate-only Configure ran the configure hook');
  const early = await plugin.flush('x', [{ n: 1 }]);
  assert.deepEqual([early.status, early.message], ['RETRY', 'plugin is not configured yet']);
  // A refusal by validate is per key, and still configures nothing.
  assert.deepEqual(await plugin.configure({ reject: true }, { validateOnly: true }), [
    { key: 'reject', message: 'refused by validate' },
    { key: 'also', message: 'also refused by validate' },
  ]);
  assert.equal(plugin.logs.filter((l) => l.msg === 'configure hook').length, 0);

  assert.deepEqual(await plugin.configure({ label: 'real' }, { instance: 'probe.next' }), []);
  const configured = await plugin.waitForLog(/"configure hook"/);
  assert.deepEqual([configured.record?.instance, configured.record?.label], ['probe.next', 'real']);
  assert.equal(plugin.logs.filter((l) => l.msg === 'validate hook').length, 2, 'the real Configure ran the validate hook');
  assert.equal((await plugin.flush('x', [{ n: 2 }])).status, 'OK');
  assert.deepEqual(await plugin.configure({ label: 'again' }), [{ key: '', message: 'Configure was already called for this process' }]);
});

test('Configure errors are per key: the config spec\'s, then a ConfigureError thrown by configure; a refused plugin stays unconfigured', async (t) => {
  const plugin = await start(t, 'probe.ts');
  assert.deepEqual(await plugin.configure({ lable: 'x', reject: 'maybe' }), [
    { key: 'lable', message: 'unknown key; did you mean "label"?' },
    { key: 'reject', message: 'must be a boolean (true/false/on/off), got "maybe"' },
  ]);
  assert.equal(plugin.logs.filter((l) => /hook/.test(l.msg)).length, 0, 'a hook ran on a config its spec refused');
  assert.deepEqual(await plugin.configure({ reject: 'on' }), [
    { key: 'reject', message: 'refused by configure' },
    { key: 'also', message: 'also refused by configure' },
  ]);
  assert.equal((await plugin.flush('x', [{ n: 1 }])).status, 'RETRY');
});

test('half-closing the Flush stream: the plugin answers what is outstanding, then ends its side (never an error)', async (t) => {
  const plugin = await start(t, 'probe.ts', { logLevel: 'debug' });
  assert.deepEqual(await plugin.configure({}), []);
  const a = plugin.flush('hold', [{ n: 1 }]);
  const b = plugin.flush('hold', [{ n: 2 }]);
  await plugin.waitForLog((l) => l.msg === 'holding' && plugin.logs.filter((m) => m.msg === 'holding').length === 2);
  const ended = plugin.endFlushStream();
  const seen = await plugin.waitForLog(/the host half-closed the Flush stream/);
  assert.equal(seen.record?.outstanding, 2);
  assert.equal(plugin.flushStreamEnded, undefined, 'the plugin ended its side with sends outstanding');
  plugin.kill('SIGUSR2');
  assert.deepEqual((await Promise.all([a, b])).map((r) => r.status), ['OK', 'OK']);
  await ended;
  assert.equal(plugin.flushStreamEnded, 'ended the Flush stream');
  assert.deepEqual(plugin.logs.filter((l) => l.msg === 'flush stream closed').map((l) => l.raw), []);
  assert.deepEqual(await plugin.shutdown(), { code: 0, signal: undefined });
});

test('Shutdown, SIGTERM and the end of stdin each run the exit hook and exit 0', async (t) => {
  const how = {
    Shutdown: (p: Awaited<ReturnType<typeof start>>) => p.shutdown(),
    SIGTERM: (p: Awaited<ReturnType<typeof start>>) => (p.kill('SIGTERM'), p.waitForExit()),
    'stdin closed': (p: Awaited<ReturnType<typeof start>>) => (p.closeStdin(), p.waitForExit()),
  };
  for (const [name, stop] of Object.entries(how)) {
    const plugin = await start(t, 'probe.ts');
    assert.deepEqual(await plugin.configure({}), []);
    assert.deepEqual(await stop(plugin), { code: 0, signal: undefined }, name);
    assert.ok(plugin.logs.some((l) => l.msg === 'exit hook'), `${name}: no exit hook`);
  }
});

test('SIGINT is ignored: the plugin logs it and keeps serving', async (t) => {
  const plugin = await start(t, 'probe.ts', { logLevel: 'debug' });
  assert.deepEqual(await plugin.configure({}), []);
  plugin.kill('SIGINT');
  await plugin.waitForLog(/SIGINT ignored/);
  assert.equal(await plugin.health(), 'SERVING');
  assert.equal((await plugin.flush('x', [{ n: 1 }])).status, 'OK');
  assert.deepEqual(await plugin.stop(), { code: 0, signal: undefined });
});

test('console.log and process.stdout.write in a plugin go to stderr: stdout carries the handshake and nothing else', async (t) => {
  const plugin = await start(t, 'probe.ts');
  assert.deepEqual(await plugin.configure({}), []);
  assert.equal((await plugin.flush('console', [{ n: 1 }])).status, 'OK');
  for (const line of ['stray console.log 42', 'stray console.info', 'stray stdout.write']) {
    assert.equal((await plugin.waitForLog((l) => l.raw === line)).level, 'info');
  }
  await plugin.stop();
  assert.deepEqual(plugin.stdout, []);
});

test('a plugin run by hand (no magic cookie) explains itself on stderr, prints nothing on stdout and exits 1', () => {
  const r = spawnSync(process.execPath, [fixture('probe.ts')], { encoding: 'utf8', env: { ...process.env, [MAGIC_COOKIE_KEY]: '' } });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /sluice output plugin\. It is not meant to be run by hand/);
});

test('offered no version it speaks, a plugin names both sides and exits 1 without a handshake', async () => {
  const r = spawnSync(process.execPath, [fixture('probe.ts')], {
    encoding: 'utf8', env: { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: '5,6' },
  });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no common protocol version: the host speaks 5,6, this plugin speaks 1, 2/);
  // What the author sees through the harness.
  await assert.rejects(
    import('../src/harness.ts').then((h) => h.startPlugin([process.execPath, fixture('probe.ts')], { versions: [5, 6] })),
    (err: Error) => {
      assert.ok(err instanceof PluginStartError, String(err));
      assert.match(err.message, /plugin "probe" exited before its handshake \(exit code 1\)/);
      assert.match(err.message, /no common protocol version: the host speaks 5,6, this plugin speaks 1, 2/);
      return true;
    },
  );
});
