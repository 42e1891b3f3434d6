// tail with a parser: each line becomes its parser's record as it is read
// (json through its fast path or, for what that does not take, the slow
// one; regex), with the parsed time; a line the parser does not take stays
// {key: line} with path_key and offset_key, counted; and the tail db stays
// as safe as with plain lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { countLines, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { killAtRandomPoints } from '../helpers/kills.ts';
import { compileParser } from '../../host/parsers/registry.ts';
import type { ParserDef } from '../../host/parsers/parser.ts';

const JSON_DEF: ParserDef = { name: 'app_json', format: 'json', time_key: 'time', time_format: '%Y-%m-%dT%H:%M:%S.%LZ' };
const REGEX_DEF: ParserDef = { name: 'app_re', format: 'regex', regex: '^(?<time>\\S+) (?<level>[A-Z]+) (?<service>[a-z]+)\\[(?<pid>\\d+)\\]: (?<rest>.*)$', time_key: 'time', time_format: '%Y-%m-%dT%H:%M:%SZ', types: 'pid:integer' };

const records = (file: string): any[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('tail with a parser: records as the parser makes them, with their time; unmatched lines and time errors counted; path_key and offset_key on unparsed lines', async () => {
  const dir = tempDir();
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i * 1000]));
  const jsonLines: (string | Buffer)[] = [
    '{"time":"2026-01-02T03:04:05.678Z","level":"info","n":1,"ok":true,"none":null,"f":-1.5e3,"msg":"a \\"quoted\\" é 😀 \\u00e9\\ud83d\\ude00\\n"}',
    '{"time":"2026-01-02T03:04:05.679Z","nested":{"a":[1,2,{"b":null}]},"n":2}',
    '{"time":"not a time","n":3}',
    'plain text line 4',
    '{"n":5,"n":6}',
    Buffer.concat([Buffer.from('{"n":7,"s":"'), Buffer.from([0xff, 0x41]), Buffer.from('"}')]),
    '{"12":"x","a":1}',
    JSON.stringify({ time: '2026-01-02T03:04:06.000Z', ...many }),
    '',
    '{"time":"","n":10}',
    JSON.stringify({ time: '2026-01-02T03:04:07.5Z', long: 'y'.repeat(70_000) }),
    '   {"n" : 12 , "t" : true }   ',
  ];
  const reLines = ['2026-01-02T03:04:05Z INFO api[42]: GET /x 200', 'no match here', '2026-13-02T03:04:05Z WARN api[7]: bad month'];
  writeFileSync(join(dir, 'app.json.log'), Buffer.concat(jsonLines.map((l) => Buffer.concat([Buffer.from(l), Buffer.from('\n')]))));
  writeFileSync(join(dir, 'app.re.log'), reLines.join('\r\n') + '\r\n');
  const before = Date.now() / 1000;
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  http_server: on
  http_port: 0
parsers:
  - ${JSON.stringify(JSON_DEF)}
  - ${JSON.stringify(REGEX_DEF)}
pipeline:
  inputs:
    - { name: tail, path: ${dir}/app.json.log, tag: j, parser: app_json, path_key: file, offset_key: off, read_from_head: on }
    - { name: tail, path: ${dir}/app.re.log, tag: r, parser: app_re, read_from_head: on }
  outputs:
    - { name: file, match: j, path: ${dir}/j.jsonl }
    - { name: file, match: r, path: ${dir}/r.jsonl }
`));
  await waitFor(() => countLines(join(dir, 'j.jsonl')) >= jsonLines.length && countLines(join(dir, 'r.jsonl')) >= reLines.length, 'every record in the outputs', {
    progress: () => countLines(join(dir, 'j.jsonl')) + countLines(join(dir, 'r.jsonl')),
  });
  const after = Date.now() / 1000;

  const check = (def: ParserDef, lines: (string | Buffer)[], out: any[], raw: (text: string, offset: number) => object) => {
    const parser = compileParser(def);
    assert.equal(out.length, lines.length);
    let offset = 0;
    lines.forEach((l, i) => {
      const text = (typeof l === 'string' ? Buffer.from(l) : l).toString('utf8');
      const r = parser.parse(text);
      const { date, ...body } = out[i];
      if (r) assert.deepEqual(body, JSON.parse(JSON.stringify(r.body)), `line ${i + 1}: the parser's record`);
      else assert.deepEqual(body, raw(text, offset), `line ${i + 1}: as it is`);
      if (r?.time) assert.equal(date, r.time.toNumber(), `line ${i + 1}: the parsed time`);
      else assert.ok(date >= Math.floor(before) && date <= after + 1, `line ${i + 1}: the time it was read (${date})`);
      offset += (typeof l === 'string' ? Buffer.byteLength(l) : l.length) + (def === REGEX_DEF ? 2 : 1);
    });
  };
  const j = records(join(dir, 'j.jsonl'));
  check(JSON_DEF, jsonLines, j, (text, off) => ({ log: text, file: join(dir, 'app.json.log'), off }));
  check(REGEX_DEF, reLines, records(join(dir, 'r.jsonl')), (text) => ({ log: text }));
  // What the oracle above takes for granted.
  assert.deepEqual(j[1].nested, { a: [1, 2, { b: null }] });
  assert.equal(j[0].msg, 'a "quoted" é 😀 é😀\n');
  assert.equal(j[4].n, 6);
  assert.equal(j[5].s, '\ufffdA');
  assert.equal(j[2].time, 'not a time');
  assert.equal(j[9].time, '');
  assert.equal(Object.keys(j[7]).length, 21);
  assert.equal(j[10].long.length, 70_000);
  assert.equal(records(join(dir, 'r.jsonl'))[0].pid, 42);

  const m = await s.api('/api/v1/metrics/prometheus');
  assert.equal(metric(m, 'sluice_parser_unmatched_records_total', { name: 'tail.0' }), 2, 'line 4 and the empty line');
  assert.equal(metric(m, 'sluice_parser_time_errors_total', { name: 'tail.0' }), 1);
  assert.equal(metric(m, 'sluice_parser_unmatched_records_total', { name: 'tail.1' }), 1);
  assert.equal(metric(m, 'sluice_parser_time_errors_total', { name: 'tail.1' }), 1);
  assert.equal(metric(m, 'sluice_input_records_total', { name: 'tail.0' }), jsonLines.length);
  s.kill('SIGTERM');
  assert.equal((await s.exit()).code, 0);
});

test('tail with a json parser, a db and filesystem storage: 100,000 lines, host SIGKILLed 3 times, none lost', async (t) => {
  const LINES = 100_000;
  const dir = tempDir();
  const input = join(dir, 'in.log');
  const out = join(dir, 'out.jsonl');
  let text = '';
  for (let i = 0; i < LINES; i++) text += `{"time":"2026-01-02T03:04:05.${String(i % 1000).padStart(3, '0')}Z","msg":"l-${String(i).padStart(7, '0')} ${'x'.repeat(60)}","n":${i}}\n`;
  appendFileSync(input, text);
  const config = writeConfig(dir, `
service:
  flush: 0.2
  grace: 5
  storage.path: ${dir}/storage
parsers:
  - ${JSON.stringify(JSON_DEF)}
pipeline:
  inputs:
    - { name: tail, path: ${input}, parser: app_json, read_from_head: true, exit_on_eof: true, db: ${dir}/tail.db, db.sync_interval: 0.1, storage.type: filesystem, mem_buf_limit: 4M }
  outputs:
    - { name: file, match: '*', path: ${out}, json_date_key: '', workers: 1 }
`);
  await killAtRandomPoints(config, out, { lines: LINES, kills: 3, seed: 12, share: 0.3 });
  const d = readDelivered(out, 'msg');
  const seen = new Set(d.byPrefix.get('l'));
  for (let i = 0; i < LINES; i++) if (!seen.has(i)) assert.fail(`line ${i} lost`);
  t.diagnostic(`${d.total - LINES} duplicates after 3 kills`);
});
