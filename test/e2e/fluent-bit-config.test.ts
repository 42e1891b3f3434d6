// Issue 11, acceptance 1: a Fluent Bit YAML config and the same config in
// classic .conf form (tail with a parser from a parsers file, grep, modify,
// two outputs) load unchanged and produce the same output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';

const PARSERS = `[PARSER]
    Name        applog
    Format      regex
    Regex       ^(?<time>[^ ]+) level=(?<level>[a-z]+) svc=(?<svc>[a-z]+) msg="(?<msg>[^"]*)"$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L%z
`;

const CLASSIC = `[SERVICE]
    Flush        0.2
    Log_Level    info
    Parsers_File parsers.conf

[INPUT]
    Name            tail
    Path            \${DIR}/app.log
    Tag             app
    Read_From_Head  On
    Exit_On_Eof     On
    Parser          applog

[FILTER]
    Name     grep
    Match    app
    Regex    level ^(warn|error)$
    Exclude  svc ^healthz$

[FILTER]
    Name     modify
    Match    app*
    Add      env prod
    Rename   msg message

[OUTPUT]
    Name  file
    Match *
    Path  \${DIR}/out-\${KIND}.jsonl

[OUTPUT]
    Name  stdout
    Match app
`;

const YAML = `service:
  flush: 0.2
  log_level: info
  parsers_file: parsers.conf
pipeline:
  inputs:
    - Name: tail
      Path: \${DIR}/app.log
      Tag: app
      Read_From_Head: on
      Exit_On_Eof: on
      Parser: applog
  filters:
    - name: grep
      match: app
      regex: level ^(warn|error)$
      exclude: svc ^healthz$
    - name: modify
      match: app*
      add: env prod
      rename: msg message
  outputs:
    - name: file
      match: '*'
      path: \${DIR}/out-\${KIND}.jsonl
    - name: stdout
      match: app
`;

test('the same Fluent Bit config in YAML and in classic form: tail + parser + grep + modify + two outputs, the same output', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'parsers.conf'), PARSERS);
  writeFileSync(join(dir, 'app.log'), [
    '2026-12-02T10:00:00.250+0000 level=info svc=api msg="fine"',
    '2026-12-02T10:00:01.500+0000 level=warn svc=api msg="slow request"',
    '2026-12-02T10:00:02.000+0000 level=error svc=healthz msg="probe failed"',
    '2026-12-02T10:00:03.125+0000 level=error svc=db msg="connection reset"',
    'not in the format at all',
  ].join('\n') + '\n');
  const outputs: { [kind: string]: { file: string; stdout: string } } = {};
  for (const [kind, text, name] of [['classic', CLASSIC, 'fluent-bit.conf'], ['yaml', YAML, 'fluent-bit.yaml']] as const) {
    const s = Sluice.run(writeConfig(dir, text, name), [], { env: { DIR: dir, KIND: kind } });
    const { code } = await s.exit();
    assert.equal(code, 0, `${kind}: exit ${code}\n${s.stderrText.join('\n')}\n${s.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l)).join('\n')}`);
    outputs[kind] = { file: readFileSync(join(dir, `out-${kind}.jsonl`), 'utf8'), stdout: s.stdout };
  }
  assert.equal(outputs.yaml!.file, outputs.classic!.file);
  assert.equal(outputs.yaml!.stdout, outputs.classic!.stdout);
  const events = outputs.yaml!.file.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(events, [
    { date: Date.UTC(2026, 11, 2, 10, 0, 1, 500) / 1000, level: 'warn', svc: 'api', message: 'slow request', env: 'prod' },
    { date: Date.UTC(2026, 11, 2, 10, 0, 3, 125) / 1000, level: 'error', svc: 'db', message: 'connection reset', env: 'prod' },
  ]);
  assert.equal(outputs.yaml!.stdout.trim().split('\n').length, 2);
});
