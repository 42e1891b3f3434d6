// The harness itself: what a plugin author relies on when a plugin
// misbehaves. Every wait is bounded, and its error names what did not
// happen; stop() always ends the plugin and never throws.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { PluginStartError, startPlugin } from '../src/harness.ts';
import { fixture, start } from './helpers.ts';

const NULL_PLUGIN = fileURLToPath(new URL('../../plugins/null/main.ts', import.meta.url));

/** True once no process has this pid (a killed child is reaped by Node). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Polls, bounded: for a state that no event announces (a process gone from the process table). */
async function eventually(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  for (const until = Date.now() + ms; !ok(); ) {
    if (Date.now() > until) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Most of these wait for bounds to pass, so they wait side by side.
describe('the harness', { concurrency: 4 }, () => {
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

  test('a flush the plugin never answers rejects at its bound naming the chunk, the send and the time; a late answer is kept as unmatched', async (t) => {
    const plugin = await start(t, 'probe.ts');
    assert.deepEqual(await plugin.configure({}), []);
    await assert.rejects(plugin.flush('hold', [{ n: 1 }], { chunkId: 'stuck', timeoutMs: 300 }), {
      message: 'plugin "probe" did not answer the flush of chunk stuck (send 1) within 0.3s',
    });
    assert.equal(plugin.outstanding, 0);
    assert.equal((await plugin.flush('release', [])).status, 'OK');
    assert.deepEqual(plugin.unmatchedAnswers.map((r) => [r.chunk_id, r.send_seq, r.status]), [['stuck', 1, 'OK']]);
  });

  test('a plugin that dies with flushes outstanding: each rejects naming the exit, and so does every later flush', async (t) => {
    const killed = await start(t, 'probe.ts');
    assert.deepEqual(await killed.configure({}), []);
    const held = [killed.flush('hold', [{ n: 1 }]), killed.flush('hold', [{ n: 2 }])];
    await killed.waitForLog((l) => l.msg === 'holding' && killed.logs.filter((m) => m.msg === 'holding').length === 2);
    killed.kill('SIGKILL');
    const results = await Promise.allSettled(held);
    assert.deepEqual(results.map((r) => r.status === 'rejected' && r.reason.message), [
      'plugin "probe" did not answer send 1: the plugin exited (signal SIGKILL)',
      'plugin "probe" did not answer send 2: the plugin exited (signal SIGKILL)',
    ]);
    await assert.rejects(killed.flush('x', [{ n: 3 }]), /plugin "probe" cannot take the flush of chunk .* \(send 3\): it exited \(signal SIGKILL\)/);

    const died = await start(t, 'raw.ts', { env: { RAW_FLUSH: 'exit7' } });
    await assert.rejects(died.flush('x', [{ n: 1 }]), { message: 'plugin "raw" did not answer send 1: the plugin exited (code 7)' });
    assert.deepEqual(await died.exited, { code: 7, signal: undefined });
  });

  test('a plugin that never prints a handshake: PluginStartError at start_timeout quoting its stderr, and the process is killed', async () => {
    const err = await startPlugin([process.execPath, fixture('no-handshake.ts')], { startTimeoutMs: 1500 }).then(
      () => assert.fail('started'),
      (e: Error) => e,
    );
    assert.ok(err instanceof PluginStartError, String(err));
    assert.match(err.message, /^plugin "no-handshake" \(.*no-handshake\.ts\) printed no handshake within 1\.5s; raise start_timeout if it is just slow; its last stderr lines:\n {2}no-handshake pid \d+\n {2}warming up, no handshake yet$/);
    const pid = Number(/pid (\d+)/.exec(err.message)![1]);
    await eventually(`pid ${pid} still runs`, () => gone(pid));
  });

  test('a plugin that exits before its handshake: PluginStartError with its exit code and stderr', async () => {
    await assert.rejects(startPlugin([process.execPath, fixture('raw.ts')], { env: { RAW_HANDSHAKE: 'exit' } }), (err: Error) => {
      assert.ok(err instanceof PluginStartError, String(err));
      assert.match(err.message, /^plugin "raw" exited before its handshake \(exit code 3\); its last stderr lines:\n {2}raw plugin pid \d+\n {2}fatal: settings file missing$/);
      return true;
    });
  });

  test('waitForLog resolves on a line already logged or still to come, and rejects at its bound quoting the stderr; waitForExit is bounded too', async (t) => {
    const plugin = await start(t, 'probe.ts');
    const coming = plugin.waitForLog(/"configure hook"/, 5000);
    assert.deepEqual(await plugin.configure({ label: 'x' }), []);
    assert.equal((await coming).msg, 'configure hook');
    assert.equal((await plugin.waitForLog((l) => l.msg === 'configure hook', 0)).record?.label, 'x');
    await assert.rejects(plugin.waitForLog(/never logged/, 200), (err: Error) => {
      assert.match(err.message, /^plugin "probe" logged no line matching \/never logged\/ within 0\.2s; its stderr:\n {2}\{.*"configure hook"/);
      return true;
    });
    await assert.rejects(plugin.waitForExit(200), { message: 'plugin "probe" did not exit within 0.2s' });
  });

  test('calls a plugin never answers reject at the harness bound naming the call', async (t) => {
    const plugin = await start(t, 'raw.ts', { env: { RAW_SILENT: 'Describe,Configure,Metrics,Health,Flush' }, timeoutMs: 300 });
    await assert.rejects(plugin.describe(), { message: 'plugin "raw" did not answer Describe within 0.3s' });
    await assert.rejects(plugin.configure({}), { message: 'plugin "raw" did not answer Configure within 0.3s' });
    await assert.rejects(plugin.metrics(), { message: 'plugin "raw" did not answer Metrics within 0.3s' });
    await assert.rejects(plugin.health(), { message: 'plugin "raw" did not answer Health/Check within 0.3s' });
    await assert.rejects(plugin.drain(200), { message: 'plugin "raw" did not answer the drain marker (send 1) within 0.5s' });
  });

  test('a plugin that does not end its Flush stream when half-closed, nor exit after Shutdown: both waits rejected at their bounds', async (t) => {
    const plugin = await start(t, 'raw.ts', { env: { RAW_STUBBORN: 'on' }, timeoutMs: 300 });
    // This one is answered: give it longer than the short bound the test is about, for a busy machine.
    assert.equal((await plugin.flush('x', [{ n: 1 }], { timeoutMs: 10_000 })).status, 'OK');
    await assert.rejects(plugin.endFlushStream(), { message: 'plugin "raw" did not end the Flush stream within 0.3s of sluice half-closing it' });
    await assert.rejects(plugin.shutdown(300), { message: 'plugin "raw" did not exit within 0.3s of Shutdown' });
    plugin.kill('SIGKILL');
    assert.equal((await plugin.waitForExit()).signal, 'SIGKILL');
  });

  test('stop() ends a plugin that ignores the half-close, Shutdown, SIGTERM and stdin with SIGKILL, rejects its outstanding flushes, and never throws', async () => {
    const plugin = await startPlugin([process.execPath, fixture('raw.ts')], { env: { RAW_STUBBORN: 'on', RAW_SILENT: 'Flush' } });
    const held = plugin.flush('x', [{ n: 1 }]);
    const started = Date.now();
    assert.deepEqual(await plugin.stop(200), { code: undefined, signal: 'SIGKILL' });
    // sluice's own bounds: 1 s for the half-close, the grace, 2 s after SIGTERM (3.2 s; Shutdown is answered here).
    // Loose, for a busy machine; waiting the harness's 10 s call bound for the half-close would take 13 s.
    assert.ok(Date.now() - started < 8000, `stop took ${Date.now() - started} ms`);
    assert.ok(plugin.logs.some((l) => l.raw === 'SIGTERM ignored'), 'no SIGTERM was sent');
    await assert.rejects(held, { message: 'plugin "raw" did not answer send 1: the plugin exited (signal SIGKILL)' });
    // Again, and on one whose Shutdown never answers: still an exit, never an error.
    assert.deepEqual(await plugin.stop(), { code: undefined, signal: 'SIGKILL' });
    const mute = await startPlugin([process.execPath, fixture('raw.ts')], { env: { RAW_SILENT: 'Shutdown' } });
    assert.deepEqual(await mute.stop(200), { code: undefined, signal: 'SIGTERM' }, 'SIGTERM ends a plugin that dies of it');
  });

  test('shutdown(): an exit is what counts, the call failing or not; a plugin that neither answers nor exits gets both named', async (t) => {
    // serve() exits right after answering, and often the answer is lost (CANCELLED) on the way.
    for (let i = 0; i < 3; i++) {
      const plugin = await start(t, 'probe.ts');
      assert.deepEqual(await plugin.shutdown(), { code: 0, signal: undefined });
    }
    const mute = await start(t, 'raw.ts', { env: { RAW_SILENT: 'Shutdown' }, timeoutMs: 300 });
    await assert.rejects(mute.shutdown(200), { message: 'plugin "raw" did not exit within 0.2s of Shutdown, which it did not answer within 0.3s' });
    mute.closeStdin();
    assert.deepEqual(await mute.shutdown(), { code: 0, signal: undefined }, 'a plugin that exits while its Shutdown is unanswered');
  });

  test('what a plugin writes on fd 3 is hostStdout; stray lines on its own stdout after the handshake are stdout', async (t) => {
    const probe = await start(t, 'probe.ts');
    assert.deepEqual(await probe.configure({}), []);
    assert.equal((await probe.flush('fd3', [{ text: 'one' }, { text: 'two' }])).status, 'OK');
    assert.equal(await probe.waitForHostStdout((s) => s.includes('two\n')), 'one\ntwo\n');
    assert.equal((await probe.flush('fd3', [{ text: 'three' }])).status, 'OK');
    await assert.rejects(probe.waitForHostStdout(/four/, 200), { message: 'plugin "probe" wrote nothing matching /four/ on fd 3 within 0.2s; it wrote:\n  one\n  two\n  three' });
    await probe.stop();
    assert.equal(probe.hostStdout, 'one\ntwo\nthree\n');
    assert.deepEqual(probe.stdout, []);

    const raw = await start(t, 'raw.ts', { env: { RAW_STDOUT: 'oops' } });
    await raw.describe();
    await raw.stop();
    assert.deepEqual(raw.stdout, ['oops', 'oops (at Describe)']);
  });

  test('stderr lines are parsed: pino numeric levels, hclog @level/@message, other JSON levels, plain text as info', async (t) => {
    const lines = [
      { level: 10, msg: 'p-trace' }, { level: 20, msg: 'p-debug' }, { level: 30, msg: 'p-info' },
      { level: 40, msg: 'p-warn' }, { level: 50, msg: 'p-error' }, { level: 60, msg: 'p-fatal' }, { level: 35, msg: 'p-odd' },
      { '@level': 'warn', '@message': 'hc-warn', '@module': 'x', level: 'nope', msg: 'mine' },
      { '@level': 'ERROR', '@message': 'hc-error' },
      { level: 'WARN', msg: 'slog-warn' },
      { msg: { nested: true } },
    ].map((l) => JSON.stringify(l));
    const plugin = await start(t, 'raw.ts', { env: { RAW_STDERR: JSON.stringify([...lines, 'plain words', '[1,2]', '{not json']) } });
    // stderr and the handshake (stdout) are separate pipes: wait for the last line.
    await plugin.waitForLog((l) => l.raw === '{not json');
    const seen = plugin.logs.slice(0, lines.length + 3).map((l) => [l.level, l.msg, l.record === undefined]);
    assert.deepEqual(seen, [
      ['trace', 'p-trace', false], ['debug', 'p-debug', false], ['info', 'p-info', false],
      ['warn', 'p-warn', false], ['error', 'p-error', false], ['fatal', 'p-fatal', false], ['35', 'p-odd', false],
      ['warn', 'hc-warn', false], ['error', 'hc-error', false], ['warn', 'slog-warn', false], ['info', '{"nested":true}', false],
      ['info', 'plain words', true], ['info', '[1,2]', true], ['info', '{not json', true],
    ]);
    assert.equal(plugin.logs[7]!.record?.['@module'], 'x');
    assert.equal(plugin.logs[11]!.raw, 'plain words');
  });
});
