// The host filters through the real binary: the parser filter (and its
// counter of records no parser matched), nest, rewrite_tag (re-routed by the
// new tag, KEEP both ways, backpressure from its emitter, a reload in the
// middle), throttle (drops counted in the metrics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { countLines } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';

const BATCHER = JSON.stringify(join(FIXTURES, 'plugins/batcher.ts'));

const records = (file: string): any[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

async function prometheus(s: Sluice): Promise<string> {
  return s.api('/api/v1/metrics/prometheus');
}

async function stop(s: Sluice): Promise<void> {
  s.kill('SIGTERM');
  const { code } = await s.exit();
  assert.equal(code, 0, s.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l)).join('\n'));
}

test('parser filter: parsers tried in order, reserve_data, the parsed time; unmatched records go on unchanged and are counted; nest after it', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'parsers.conf'), `[PARSER]
    Name        kv
    Format      regex
    Regex       ^(?<ts>\\S+) (?<level>[a-z]+) (?<msg>.*)$
    Time_Key    ts
    Time_Format %Y-%m-%dT%H:%M:%S
`);
  const lines = [
    '{"log":"{\\"level\\":\\"info\\",\\"user\\":\\"ada\\"}","host":"h1"}',
    '{"log":"2026-03-04T05:06:07 error disk full","host":"h2"}',
    '{"log":"NO-PARSER-TAKES-THIS","host":"h3"}',
    '{"log":12,"host":"h4"}',
    '{"log":"\\u0000\\ufffd{{{ binary-ish junk","host":"h5"}',
    'RAW-LINE-NOT-JSON',
  ];
  writeFileSync(join(dir, 'in.log'), lines.join('\n') + '\n');
  const s = Sluice.run(writeConfig(dir, `[SERVICE]
    Flush        0.2
    HTTP_Server  On
    HTTP_Port    0
    Parsers_File parsers.conf

[INPUT]
    Name           tail
    Path           ${dir}/in.log
    Tag            app
    Read_From_Head On
    Parser         json

[FILTER]
    Name         parser
    Match        app
    Key_Name     log
    Parser       json
    Parser       kv
    Reserve_Data On

[FILTER]
    Name       nest
    Match      app
    Operation  nest
    Wildcard   host
    Nest_Under meta

[OUTPUT]
    Name  file
    Match app
    Path  ${dir}/out.jsonl
`, 'fluent-bit.conf'));
  await waitFor(() => countLines(join(dir, 'out.jsonl')) >= lines.length, 'every record in the output', { progress: () => countLines(join(dir, 'out.jsonl')) });
  assert.deepEqual(records(join(dir, 'out.jsonl')).map(({ date, ...r }) => (r.level === 'error' ? { date, ...r } : r)), [
    { level: 'info', user: 'ada', meta: { host: 'h1' } },
    { date: Date.UTC(2026, 2, 4, 5, 6, 7) / 1000, level: 'error', msg: 'disk full', meta: { host: 'h2' } },
    { log: 'NO-PARSER-TAKES-THIS', meta: { host: 'h3' } },
    { log: 12, meta: { host: 'h4' } },
    { log: '\u0000\ufffd{{{ binary-ish junk', meta: { host: 'h5' } },
    { log: 'RAW-LINE-NOT-JSON' },
  ]);
  const m = await prometheus(s);
  assert.equal(metric(m, 'sluice_parser_unmatched_records_total', { name: 'parser.0' }), 3);
  assert.equal(metric(m, 'sluice_parser_unmatched_records_total', { name: 'tail.0' }), 1, 'tail\'s parser key counts its misses too');
  assert.equal(metric(m, 'sluice_filter_records_total', { name: 'nest.0' }), 6);
  await stop(s);
});

function rewriteConfig(dir: string, o: { errorsTo?: string; extraFilter?: string; emitterLimit?: string; alertsOut?: string } = {}): string {
  return `
service:
  flush: 0.2
  grace: 10
  http_server: on
  http_port: 0
plugins:
  batcher: { command: [${BATCHER}] }
pipeline:
  inputs:
    - { name: tail, path: ${dir}/in.log, tag: app, parser: json, read_from_head: on, refresh_interval: 0.2, mem_buf_limit: 4M }
  filters:
    - name: rewrite_tag
      match: '*'
      rule:
        - $level ^error$ ${o.errorsTo ?? 'alerts.$TAG'} false
        - $level ^warn$ warns true
      emitter_mem_buf_limit: ${o.emitterLimit ?? '10M'}
    - { name: modify, match: 'alerts.*', add: routed yes }
${o.extraFilter ?? ''}
  outputs:
    - { name: file, alias: main, match: app, path: ${dir}/main.jsonl }
    - ${o.alertsOut ?? `{ name: file, alias: alerts, match: 'alerts.*', path: ${dir}/alerts.jsonl }`}
    - { name: file, alias: warns, match: warns, path: ${dir}/warns.jsonl }
`;
}

const LEVELS = ['info', 'warn', 'error'];
function appendLines(dir: string, from: number, to: number): void {
  let s = '';
  for (let i = from; i < to; i++) s += JSON.stringify({ n: i, level: LEVELS[i % 3], pad: 'x'.repeat(60) }) + '\n';
  appendFileSync(join(dir, 'in.log'), s);
}

test('rewrite_tag: records re-routed by their new tag to another output and its filters; KEEP false moves, KEEP true copies; the filter\'s own records do not loop', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const s = Sluice.run(writeConfig(dir, rewriteConfig(dir)));
  await s.started();
  const N = 300;
  appendLines(dir, 0, N);
  const total = () => countLines(join(dir, 'main.jsonl')) + countLines(join(dir, 'alerts.jsonl')) + countLines(join(dir, 'warns.jsonl'));
  await waitFor(() => total() >= N + N / 3, 'every record where it belongs', { progress: total });
  const main = records(join(dir, 'main.jsonl'));
  const alerts = records(join(dir, 'alerts.jsonl'));
  const warns = records(join(dir, 'warns.jsonl'));
  assert.deepEqual(main.map((r) => r.n), [...Array(N).keys()].filter((i) => i % 3 !== 2), 'info and warn stay (warn: KEEP true)');
  assert.deepEqual(alerts.map((r) => r.n), [...Array(N).keys()].filter((i) => i % 3 === 2), 'error moved (KEEP false)');
  assert.ok(alerts.every((r) => r.routed === 'yes' && r.level === 'error'), 'the new tag\'s filters ran');
  assert.ok(main.every((r) => r.routed === undefined), 'the old tag\'s records did not get them');
  assert.deepEqual(warns.map((r) => r.n), [...Array(N).keys()].filter((i) => i % 3 === 1));
  const m = await prometheus(s);
  assert.equal(metric(m, 'sluice_filter_emit_records_total', { name: 'rewrite_tag.0' }), (N / 3) * 2);
  assert.equal(metric(m, 'sluice_input_records_total', { name: 'emitter_for_rewrite_tag.0' }), (N / 3) * 2);
  // Its own re-emitted records (tags alerts.app, warns) match its '*' but do not pass it again.
  assert.equal(metric(m, 'sluice_filter_records_total', { name: 'rewrite_tag.0' }), N);
  assert.equal(metric(m, 'sluice_input_unrouted_records_total', {}), 0);
  await stop(s);
});

test('rewrite_tag with a reload in the middle that changes its rule and adds a filter: nothing lost, and the reload result lists the filters', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const file = writeConfig(dir, rewriteConfig(dir));
  const s = Sluice.run(file);
  await s.started();
  const N = 3000;
  const total = () => countLines(join(dir, 'main.jsonl')) + countLines(join(dir, 'alerts.jsonl')) + countLines(join(dir, 'warns.jsonl'));
  for (let i = 0; i < N; i += 100) {
    appendLines(dir, i, i + 100);
    if (i === 1500) {
      writeFileSync(file, rewriteConfig(dir, { errorsTo: 'alerts.reloaded', extraFilter: "    - { name: grep, match: warns, exclude: 'level ^never$' }" }));
      const res = await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' });
      const r = await res.json();
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.deepEqual(r.filters, { 'rewrite_tag.0': 'changed', 'modify.0': 'unchanged', 'grep.0': 'added' });
      assert.deepEqual(r.inputs, { 'tail.0': 'unchanged' });
    }
  }
  await waitFor(() => total() >= N + N / 3, 'every record where it belongs', { progress: total });
  await stop(s);
  const alerts = records(join(dir, 'alerts.jsonl'));
  assert.deepEqual(alerts.map((r) => r.n).sort((a, b) => a - b), [...Array(N).keys()].filter((i) => i % 3 === 2));
  assert.ok(alerts.some((r) => r.n < 1500) && alerts.some((r) => r.n >= 1600));
  assert.deepEqual(records(join(dir, 'main.jsonl')).map((r) => r.n).sort((a, b) => a - b), [...Array(N).keys()].filter((i) => i % 3 !== 2));
  assert.deepEqual(records(join(dir, 'warns.jsonl')).map((r) => r.n).sort((a, b) => a - b), [...Array(N).keys()].filter((i) => i % 3 === 1));
  assert.deepEqual(s.logs.find((l) => l.msg === 'reload done')?.filters, { 'rewrite_tag.0': 'changed', 'modify.0': 'unchanged', 'grep.0': 'added' });
});

test('rewrite_tag backpressure: an emitter over emitter_mem_buf_limit pauses the input that feeds it; nothing is lost', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const config = rewriteConfig(dir, {
    emitterLimit: '64K',
    alertsOut: `{ name: batcher, alias: alerts, match: 'alerts.*', path: ${dir}/alerts.jsonl, linger: 1 }`,
  });
  const s = Sluice.run(writeConfig(dir, config));
  await s.started();
  const N = 9000;
  appendLines(dir, 0, N);
  const total = () => countLines(join(dir, 'main.jsonl')) + countLines(join(dir, 'alerts.jsonl')) + countLines(join(dir, 'warns.jsonl'));
  await waitFor(() => total() >= N + N / 3, 'every record where it belongs', { progress: total });
  const m = await prometheus(s);
  assert.ok(metric(m, 'sluice_input_paused_total', { name: 'tail.0' }) > 0, 'the tail input was paused by the emitter');
  const storage = await s.api('/api/v1/storage');
  assert.equal(storage.input_chunks['emitter_for_rewrite_tag.0'].mem_buf_limit, 64 * 1024);
  await stop(s);
  assert.deepEqual(records(join(dir, 'alerts.jsonl')).map((r) => r.n).sort((a, b) => a - b), [...Array(N).keys()].filter((i) => i % 3 === 2));
  assert.equal(records(join(dir, 'main.jsonl')).length, (N / 3) * 2);
});

test('rewrite_tag with emitter_storage.type filesystem: the emitter stores its chunks under storage.path/<emitter_name>; every record where it belongs', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const s = Sluice.run(writeConfig(dir, rewriteConfig(dir)
    .replace('  flush: 0.2\n', `  flush: 0.2\n  storage.path: ${dir}/storage\n`)
    .replace("      emitter_mem_buf_limit: 10M\n", "      emitter_mem_buf_limit: 10M\n      emitter_name: re\n      emitter_storage.type: filesystem\n")));
  await s.started();
  appendLines(dir, 0, 30);
  const total = () => countLines(join(dir, 'main.jsonl')) + countLines(join(dir, 'alerts.jsonl')) + countLines(join(dir, 'warns.jsonl'));
  await waitFor(() => total() >= 40, 'every record where it belongs', { progress: total });
  assert.ok(existsSync(join(dir, 'storage', 're')), 'the emitter has its own chunk directory');
  const m = await prometheus(s);
  assert.equal(metric(m, 'sluice_input_records_total', { name: 're' }), 20);
  await stop(s);
  assert.deepEqual(records(join(dir, 'alerts.jsonl')).map((r) => r.n), [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]);
});

test('two rewrite_tag filters that send records to each other end the loop: each record is delivered once, and it is logged', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, http_server: on, http_port: 0 }
pipeline:
  inputs:
    - { name: tail, path: ${dir}/in.log, tag: a, parser: json, read_from_head: on, refresh_interval: 0.2 }
  filters:
    - { name: rewrite_tag, match: a, rule: '$level . b false' }
    - { name: rewrite_tag, match: b, rule: '$level . a false' }
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl }
`));
  await s.started();
  appendLines(dir, 0, 30);
  await waitFor(() => countLines(join(dir, 'out.jsonl')) >= 30, 'every record', { progress: () => countLines(join(dir, 'out.jsonl')) });
  await s.waitForLog((l) => /re-emitted 8 times in a row/.test(l.msg), 'the loop warning');
  await stop(s);
  assert.deepEqual(records(join(dir, 'out.jsonl')).map((r) => r.n), [...Array(30).keys()]);
});

test('throttle: records over the rate are dropped, each counted in sluice_filter_drop_records_total; the rest are delivered', async () => {
  const dir = tempDir();
  const N = 3000;
  const s = Sluice.run(writeConfig(dir, `[SERVICE]
    Flush       0.2
    HTTP_Server On
    HTTP_Port   0

[INPUT]
    Name    dummy
    Tag     app
    Rate    100000
    Samples ${N}
    Dummy   {"message":"hello"}

[FILTER]
    Name     throttle
    Match    app
    Rate     50
    Window   2
    Interval 1m

[OUTPUT]
    Name  file
    Match *
    Path  ${dir}/out.jsonl
`, 'fluent-bit.conf'));
  let m = '';
  await waitFor(async () => {
    m = await prometheus(s);
    return metric(m, 'sluice_filter_records_total', { name: 'throttle.0' }) === N;
  }, 'the throttle to see every record', { progress: () => m });
  const dropped = metric(m, 'sluice_filter_drop_records_total', { name: 'throttle.0' });
  // The window starts empty: rate × window records go through within the first minute.
  assert.equal(dropped, N - 100);
  await waitFor(() => countLines(join(dir, 'out.jsonl')) >= 100, 'the records let through', { progress: () => countLines(join(dir, 'out.jsonl')) });
  await stop(s);
  assert.equal(countLines(join(dir, 'out.jsonl')), 100);
});

const TRACE = [
  'Exception in thread "main" java.lang.IllegalStateException: boom',
  '\tat com.example.App.run(App.java:10)',
  '\tat com.example.App.main(App.java:3)',
];

function multilineConfig(dir: string, o: { flushMs?: number; after?: string; grace?: number } = {}): string {
  return `
service: { flush: 0.2, grace: ${o.grace ?? 5}, http_server: on, http_port: 0 }
multiline_parsers:
  - name: stamped
    type: regex
    rules:
      - { state: start_state, regex: '/^\\d{4}-\\d\\d-\\d\\d /', next_state: cont }
      - { state: cont, regex: '/^\\s+/', next_state: cont }
pipeline:
  inputs:
    - { name: tail, path: ${dir}/in.log, tag: app, read_from_head: on, refresh_interval: 0.1 }
  filters:
    - { name: multiline, match: app, multiline.parser: 'java, stamped', flush_ms: ${o.flushMs ?? 60000} }
    - ${o.after ?? "{ name: modify, match: app, add: joined yes }"}
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl }
`;
}

test('multiline: a trace whose lines come in different chunks is joined into the first line\'s record; a quiet record is emitted after flush_ms through the filters after it', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  // flush_ms long enough that a slow machine does not flush the trace before its last line comes.
  const s = Sluice.run(writeConfig(dir, multilineConfig(dir, { flushMs: 8000 })));
  await s.started();
  const out = join(dir, 'out.jsonl');
  appendFileSync(join(dir, 'in.log'), ['first line', TRACE[0], TRACE[1]].join('\n') + '\n');
  await waitFor(() => countLines(out) >= 1, 'the first line', { progress: () => countLines(out) });
  // The trace's first lines were sealed (and held) in an earlier chunk than the rest.
  await waitFor(async () => metric(await prometheus(s), 'sluice_filter_records_total', { name: 'multiline.0' }) >= 3, 'the trace\'s first lines to reach the filter');
  appendFileSync(join(dir, 'in.log'), [TRACE[2], 'plain end'].join('\n') + '\n');
  // "plain end" is no rule's: it completes the trace, which goes on in its chunk.
  await waitFor(() => countLines(out) >= 3, 'the joined trace', { progress: () => countLines(out) });
  appendFileSync(join(dir, 'in.log'), ['2026-01-01 next', '  cont'].join('\n') + '\n');
  await waitFor(() => countLines(out) >= 4, 'the record emitted at flush_ms', { progress: () => countLines(out) });
  assert.deepEqual(records(out).map(({ date, ...r }) => r), [
    { log: 'first line', joined: 'yes' },
    { log: TRACE.join('\n'), joined: 'yes' },
    { log: 'plain end', joined: 'yes' },
    { log: '2026-01-01 next\n  cont', joined: 'yes' },
  ]);
  const m = await prometheus(s);
  assert.equal(metric(m, 'sluice_filter_emit_records_total', { name: 'multiline.0' }), 1);
  assert.equal(metric(m, 'sluice_input_records_total', { name: 'emitter_for_multiline.0' }), 1);
  await stop(s);
});

test('multiline: a record still being built at shutdown is delivered, not lost; a reload that changes the filter gives up what it held', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.log'), '');
  const file = writeConfig(dir, multilineConfig(dir));
  const s = Sluice.run(file);
  await s.started();
  const out = join(dir, 'out.jsonl');
  appendFileSync(join(dir, 'in.log'), ['2026-01-01 a', '  a1'].join('\n') + '\n');
  await waitFor(async () => metric(await prometheus(s), 'sluice_filter_records_total', { name: 'multiline.0' }) >= 2, 'the lines to reach the filter');
  writeFileSync(file, multilineConfig(dir, { after: '{ name: modify, match: app, add: joined again }' }).replace('flush_ms: 60000', 'flush_ms: 50000'));
  const res = await (await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' })).json();
  assert.deepEqual(res.filters, { 'multiline.0': 'changed', 'modify.0': 'changed' });
  // The old filter's held record went through the old config's filters.
  await waitFor(() => countLines(out) >= 1, 'the record the changed filter held', { progress: () => countLines(out) });
  appendFileSync(join(dir, 'in.log'), ['2026-01-01 b', '  b1', '  b2'].join('\n') + '\n');
  // 2 lines before the reload, 3 after (the counter goes on across the reload: same name).
  await waitFor(async () => metric(await prometheus(s), 'sluice_filter_records_total', { name: 'multiline.0' }) >= 5, 'the new lines to reach the new filter');
  await stop(s);
  assert.deepEqual(records(out).map(({ date, ...r }) => r), [
    { log: '2026-01-01 a\n  a1', joined: 'yes' },
    { log: '2026-01-01 b\n  b1\n  b2', joined: 'again' },
  ]);
});
