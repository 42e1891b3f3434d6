import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import pino from 'pino';
import { forwardLine } from '../../host/supervisor/plugin-process.ts';

/** A host-like logger (base pid, the supervisor's bindings) that keeps what it writes. */
function hostLog(level = 'trace') {
  const lines: any[] = [];
  const root = pino({ level, base: { pid: 1000 } }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const log = root.child({ output: 'out.0', plugin: 'out' }).child({ plugin_pid: 2000 });
  return { log, lines };
}

describe('forwardLine', () => {
  test('a pino line keeps its level, message and fields; its own pid and our hostname are not repeated', () => {
    const { log, lines } = hostLog();
    forwardLine(log, JSON.stringify({ level: 40, time: 1764648000000, pid: 2000, hostname: hostname(), name: 'out', instance: 'out.0', msg: 'slow', chunk: 'c1' }));
    assert.equal(lines.length, 1);
    const { time, ...rest } = lines[0];
    assert.equal(typeof time, 'number');
    assert.deepEqual(rest, {
      level: 40, pid: 1000, output: 'out.0', plugin: 'out', plugin_pid: 2000,
      plugin_time: '2025-12-02T04:00:00.000Z', name: 'out', instance: 'out.0', chunk: 'c1', msg: 'slow',
    });
  });

  test('pino and slog level names are understood; an unknown level is logged at info and kept', () => {
    const { log, lines } = hostLog();
    forwardLine(log, '{"level":"WARN","msg":"slog"}');
    forwardLine(log, '{"level":"error","msg":"named"}');
    forwardLine(log, '{"level":35,"msg":"odd"}');
    forwardLine(log, '{"level":"critical","msg":"odder"}');
    assert.deepEqual(lines.map((l) => [l.level, l.msg, l.fields]), [
      [40, 'slog', undefined], [50, 'named', undefined], [30, 'odd', { level: 35 }], [30, 'odder', { level: 'critical' }],
    ]);
  });

  test('a pino line cannot replace the host\'s fields: clashing names go under fields', () => {
    const { log, lines } = hostLog();
    forwardLine(log, JSON.stringify({ level: 30, msg: 'hi', pid: 7, output: 'evil', plugin_pid: 1, fields: 'x', user: 'ada' }));
    const [l] = lines;
    assert.equal(l.pid, 1000);
    assert.equal(l.output, 'out.0');
    assert.equal(l.plugin_pid, 2000);
    assert.equal(l.user, 'ada');
    assert.deepEqual(l.fields, { pid: 7, output: 'evil', plugin_pid: 1, fields: 'x' });
  });

  test('an hclog line: its @-keys win and its level/msg/pid are ordinary fields', () => {
    const { log, lines } = hostLog();
    forwardLine(log, JSON.stringify({
      '@level': 'debug', '@message': 'hello', '@timestamp': '2026-12-02T04:00:00.123456Z', '@module': 'plugin.grpc', '@caller': 'main.go:12',
      level: 'nope', msg: 'mine', pid: 4, output: 'evil', n: 1,
    }));
    const { time: _t, ...rest } = lines[0];
    assert.deepEqual(rest, {
      level: 20, pid: 1000, output: 'out.0', plugin: 'out', plugin_pid: 2000,
      plugin_time: '2026-12-02T04:00:00.123456Z', module: 'plugin.grpc', caller: 'main.go:12', n: 1,
      fields: { level: 'nope', msg: 'mine', pid: 4, output: 'evil' }, msg: 'hello',
    });
  });

  test('a field named __proto__ is just a field', () => {
    const { log, lines } = hostLog();
    forwardLine(log, '{"level":30,"msg":"odd","__proto__":{"output":"evil"},"n":1}');
    assert.equal(lines[0].output, 'out.0');
    assert.equal(lines[0].n, 1);
  });

  test('a time that is no date is kept as written', () => {
    const { log, lines } = hostLog();
    forwardLine(log, '{"level":30,"msg":"far","time":1e300}');
    assert.equal(lines[0].plugin_time, 1e300);
  });

  test('plain text, blank lines, and JSON that is not an object', () => {
    const { log, lines } = hostLog();
    forwardLine(log, 'panic: runtime error');
    forwardLine(log, '   ');
    forwardLine(log, '{not json');
    forwardLine(log, '[1,2]');
    assert.deepEqual(lines.map((l) => [l.level, l.msg, l.stderr, l.output]), [
      [30, 'panic: runtime error', true, 'out.0'], [30, '{not json', true, 'out.0'], [30, '[1,2]', true, 'out.0'],
    ]);
  });

  test('lines below the host\'s level are dropped', () => {
    const { log, lines } = hostLog('warn');
    forwardLine(log, '{"@level":"info","@message":"chatty"}');
    forwardLine(log, '{"level":20,"msg":"chatty"}');
    forwardLine(log, '{"@level":"error","@message":"bad"}');
    assert.deepEqual(lines.map((l) => l.msg), ['bad']);
  });
});
