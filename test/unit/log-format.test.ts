// service.log_format text: pino's JSON lines as lines for a person.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textLine } from '../../host/log.ts';

test('time, level word, the component in brackets, the message, then key=value; strings with spaces quoted, errors by message', () => {
  const time = new Date(2026, 11, 2, 18, 4, 5, 67).getTime();
  const line = textLine(JSON.stringify({ level: 40, time, pid: 7, output: 'kafka.0', plugin: 'kafka', chunk: 'c1', reason: 'broker down', attempt: 2, err: { message: 'ECONNREFUSED x' }, msg: 'chunk will be retried' }));
  assert.equal(line, '2026-12-02 18:04:05.067 WARN  [output=kafka.0 plugin=kafka] chunk will be retried chunk=c1 reason="broker down" attempt=2 err="ECONNREFUSED x"\n');
  assert.equal(textLine(JSON.stringify({ level: 30, time, msg: 'sluice started', inputs: ['tail.0'] })), '2026-12-02 18:04:05.067 INFO  sluice started inputs=["tail.0"]\n');
  assert.equal(textLine('not json\n'), 'not json\n', 'anything else passes through');
});
