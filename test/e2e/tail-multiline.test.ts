// tail's multiline.parser (docker, cri) and docker_mode through the real
// binary: pieces joined, fields and time taken from the lines, on samples
// in the runtimes' own formats; pieces pending across reads, at a stop, a
// restart from the db, a kill -9 and a reload: never lost, never twice;
// stdout and stderr never joined with each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';
import { criLines, dockerLines } from '../helpers/container-logs.ts';
import { CRI_EXPECTED, CRI_FILE, DOCKER_EXPECTED, DOCKER_FILE, NOT_CRI_LINE, TORN_DOCKER_LINE, criFile, dockerFile, type Expected } from '../fixtures/multiline/samples.ts';

type Out = { date: number; [k: string]: unknown };

function delivered(file: string): Out[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** The event time the record's time text stands for, in seconds (to the millisecond: Date.parse's precision). */
const seconds = (time: string) => Date.parse(time) / 1000;

function assertTimes(records: Out[]): void {
  for (const r of records) {
    if (typeof r.time !== 'string') continue;
    assert.ok(Math.abs(r.date - seconds(r.time)) < 0.001, `event time ${r.date} is not the line's ${r.time}`);
  }
}

/** A long text whose pieces are told apart by a label, so a wrong join shows. */
function long(label: string, bytes: number): string {
  let s = `${label}:`;
  for (let i = 0; s.length < bytes; i++) s += ` ${label}-${i}`;
  return s.slice(0, bytes);
}

async function inputBytes(s: Sluice): Promise<number> {
  return metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_bytes_total', { name: 'tail.0' });
}

async function multilineCount(s: Sluice, kind: string): Promise<number> {
  return metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_multiline_records_total', { name: 'tail.0', kind });
}

test('the checked-in samples are what the runtimes would write for them', () => {
  assert.equal(readFileSync(DOCKER_FILE, 'utf8'), dockerFile());
  assert.equal(readFileSync(CRI_FILE, 'utf8'), criFile());
  // Real 16 KiB pieces: the long lines are cut.
  assert.ok(readFileSync(CRI_FILE, 'utf8').split('\n').filter((l) => / stdout P /.test(l)).length === 2);
});

test('CRI and docker multiline: partial lines joined, fields extracted, on real-format samples', async () => {
  const dir = tempDir();
  copyFileSync(DOCKER_FILE, join(dir, 'docker.log'));
  copyFileSync(CRI_FILE, join(dir, 'cri.log'));
  const out = join(dir, 'out.jsonl');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
pipeline:
  inputs:
    - name: tail
      path: ${dir}/*.log
      read_from_head: true
      exit_on_eof: true
      multiline.parser: docker, cri
      path_key: file
  outputs:
    - { name: file, match: '*', path: ${out} }
`));
  assert.equal((await s.exit()).code, 0, s.stderrText.join('\n'));
  const records = delivered(out);
  assertTimes(records);
  const of = (file: string, stream: string) =>
    records.filter((r) => r.file === join(dir, file) && r.stream === stream).map(({ date: _d, file: _f, ...body }) => body);
  const expect = (e: Expected[]) => e.map((x) => ({ ...x }));
  for (const stream of ['stdout', 'stderr']) {
    // docker: the runtime's own object, log joined; the record's keys in docker's order.
    assert.deepEqual(of('docker.log', stream), expect(DOCKER_EXPECTED[stream]!), `docker ${stream}`);
    // cri: Fluent Bit's fields for it: time, stream, _p (the first piece's tag), log.
    assert.deepEqual(of('cri.log', stream), expect(CRI_EXPECTED[stream]!), `cri ${stream}`);
  }
  assert.deepEqual(Object.keys(records.find((r) => r.file === join(dir, 'docker.log') && r.attrs)!), ['date', 'log', 'stream', 'attrs', 'time', 'file']);
  assert.deepEqual(Object.keys(records.find((r) => r.file === join(dir, 'cri.log'))!), ['date', 'time', 'stream', '_p', 'log', 'file']);
  // Lines in neither format come as they are, under log, at the time they were read; logged once per file.
  const unparsed = records.filter((r) => r.stream === undefined).map(({ date: _d, ...body }) => body);
  assert.deepEqual(unparsed.sort((a, b) => String(a.file).localeCompare(String(b.file))), [
    { log: NOT_CRI_LINE, file: join(dir, 'cri.log') },
    { log: TORN_DOCKER_LINE, file: join(dir, 'docker.log') },
  ]);
  assert.equal(s.logs.filter((l) => /line in no format of multiline.parser/.test(l.msg)).length, 2);
  assert.equal(records.length, 14);
});

test('docker_mode joins docker\'s pieces into one docker line, for parser docker', async () => {
  const dir = tempDir();
  copyFileSync(DOCKER_FILE, join(dir, 'docker.log'));
  const out = join(dir, 'out.jsonl');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
pipeline:
  inputs:
    - name: tail
      path: ${dir}/docker.log
      read_from_head: true
      exit_on_eof: true
      docker_mode: on
      parser: docker
  outputs:
    - { name: file, match: '*', path: ${out} }
`));
  assert.equal((await s.exit()).code, 0, s.stderrText.join('\n'));
  const records = delivered(out);
  assertTimes(records);
  for (const stream of ['stdout', 'stderr']) {
    assert.deepEqual(records.filter((r) => r.stream === stream).map(({ date: _d, ...body }) => body), DOCKER_EXPECTED[stream], stream);
  }
  // The torn line is not docker's: it goes on to the parser as it is, which does not match it either.
  assert.deepEqual(records.filter((r) => r.stream === undefined).map((r) => r.log), [TORN_DOCKER_LINE]);
});

test('pieces appended one read at a time join when the last comes; stdout and stderr pending at once stay apart', async () => {
  const dir = tempDir();
  const log = join(dir, 'c.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(log, '');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.1
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: tail, path: ${log}, read_from_head: on, multiline.parser: docker, multiline.flush: 1h }
  outputs:
    - { name: file, match: '*', path: ${out} }
`));
  try {
    await s.started();
    const outText = long('out', 40_000);
    const errText = long('err', 20_000);
    const [o1, o2, o3] = dockerLines({ text: outText, stream: 'stdout', time: '2024-01-15T10:20:30.1Z' });
    const [e1, e2] = dockerLines({ text: errText, stream: 'stderr', time: '2024-01-15T10:20:31.2Z' });
    let written = 0;
    const append = async (...lines: string[]) => {
      for (const l of lines) {
        appendFileSync(log, l);
        written += Buffer.byteLength(l);
      }
      // Read to the end: whatever is pending, is pending after this read.
      await waitFor(async () => (await inputBytes(s)) === written, `sluice to read ${written} bytes`);
    };
    await append(o1!, e1!);
    await append(o2!);
    await s.settle(300);
    assert.deepEqual(delivered(out), [], 'nothing is complete yet');
    await append(e2!);
    await waitFor(() => delivered(out).length >= 1, 'the stderr record');
    assert.deepEqual(delivered(out).map((r) => r.stream), ['stderr'], 'stdout still waits for its last piece');
    await append(o3!);
    await waitFor(() => delivered(out).length >= 2, 'the stdout record');
    assert.equal(delivered(out).length, 2);
    const [err, outRec] = delivered(out);
    assert.deepEqual({ ...err, date: undefined }, { date: undefined, log: `${errText}\n`, stream: 'stderr', time: '2024-01-15T10:20:31.2Z' });
    assert.deepEqual({ ...outRec, date: undefined }, { date: undefined, log: `${outText}\n`, stream: 'stdout', time: '2024-01-15T10:20:30.1Z' });
    assertTimes(delivered(out));
    assert.equal(await multilineCount(s, 'joined'), 2);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('a piece with no next one is emitted after multiline.flush; without a db, pending pieces are emitted at shutdown', async () => {
  const dir = tempDir();
  const out = join(dir, 'out.jsonl');
  // A file of its own per run, read from its head: a line written before the first scan is still read.
  const config = (log: string, flush: string) => {
    writeFileSync(log, '');
    return writeConfig(dir, `
service:
  flush: 0.1
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: tail, path: ${log}, read_from_head: on, multiline.parser: cri, multiline.flush: ${flush} }
  outputs:
    - { name: file, match: '*', path: ${out} }
`);
  };
  const first = join(dir, 'first.log');
  let s = Sluice.run(config(first, '300ms'));
  try {
    await s.started();
    appendFileSync(first, '2024-01-15T10:20:30Z stdout P no last piece\n');
    await waitFor(() => delivered(out).length >= 1, 'the piece, flushed');
    assert.equal(delivered(out)[0]!.log, 'no last piece');
    assert.equal(delivered(out)[0]!._p, 'P');
    assert.equal(await multilineCount(s, 'flushed'), 1);
  } finally {
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
  }
  const second = join(dir, 'second.log');
  s = Sluice.run(config(second, '1h'));
  try {
    await s.started();
    appendFileSync(second, '2024-01-15T10:20:31Z stderr P waits for ever\n');
    await waitFor(async () => (await inputBytes(s)) === readFileSync(second).length, 'sluice to read the piece');
  } finally {
    s.kill('SIGTERM');
    assert.equal((await s.exit()).code, 0);
  }
  assert.deepEqual(delivered(out).map((r) => [r.stream, r.log]), [['stdout', 'no last piece'], ['stderr', 'waits for ever']]);
});

for (const how of ['SIGTERM', 'SIGKILL'] as const) {
  test(`pieces pending at a ${how} are read again from the db after a restart: joined whole, nothing lost, nothing twice`, async () => {
    const dir = tempDir();
    const log = join(dir, 'c.log');
    const out = join(dir, 'out.jsonl');
    const db = join(dir, 'tail.db');
    const storage = join(dir, 'storage');
    writeFileSync(log, '');
    const config = writeConfig(dir, `
service:
  flush: 0.1
  grace: 5
  http_server: on
  http_port: 0
  storage.path: ${storage}
pipeline:
  inputs:
    - name: tail
      path: ${log}
      read_from_head: on
      multiline.parser: cri
      multiline.flush: 1h
      db: ${db}
      db.sync_interval: 0.1
      storage.type: filesystem
  outputs:
    - { name: file, match: '*', path: ${out} }
`);
    const outText = long('out', 40_000);
    const [o1, o2, o3] = criLines({ text: outText, stream: 'stdout', times: ['2024-01-15T10:20:30.000000001Z', '2024-01-15T10:20:30.000000002Z', '2024-01-15T10:20:30.000000003Z'] });
    const before = criLines({ text: 'stderr before the stop', stream: 'stderr', times: ['2024-01-15T10:20:30.5Z'] })[0]!;
    const between = criLines({ text: 'stderr between the pieces', stream: 'stderr', times: ['2024-01-15T10:20:30.6Z'] })[0]!;
    const after = criLines({ text: 'stderr after the restart', stream: 'stderr', times: ['2024-01-15T10:20:31Z'] })[0]!;
    writeFileSync(log, before + o1 + between + o2);
    const size = readFileSync(log).length;
    let s = Sluice.run(config);
    try {
      await waitFor(() => delivered(out).length >= 2, 'the two stderr lines');
      // The db waits at the first pending piece, and knows the stderr lines after it were emitted.
      const saved = await waitFor(() => {
        if (!existsSync(db)) return undefined;
        const e = Object.values(JSON.parse(readFileSync(db, 'utf8')).inodes)[0] as { offset: number; replay?: unknown } | undefined;
        return e?.offset === Buffer.byteLength(before) && e.replay ? e : undefined;
      }, 'the db to hold the pending piece');
      assert.deepEqual(saved.replay, { until: size, modes: ['cri'], streams: { 'cri:stdout': Buffer.byteLength(before) } });
      // With kill -9, wait until the chunks are acknowledged and gone: what follows is the tail's doing, not the store's.
      await waitFor(() => readdirSync(join(storage, 'tail.0')).every((f) => !f.endsWith('.chunk')), 'the chunks to be delivered');
    } finally {
      s.kill(how);
      await s.exit();
    }
    s = Sluice.run(config);
    try {
      await s.started();
      appendFileSync(log, o3! + after);
      await waitFor(() => delivered(out).some((r) => r.log === 'stderr after the restart') && delivered(out).some((r) => r.stream === 'stdout'), 'the joined record and the last stderr line');
      await s.settle(300);
    } finally {
      s.kill('SIGTERM');
      assert.equal((await s.exit()).code, 0);
    }
    const records = delivered(out);
    assert.deepEqual(records.map((r) => [r.stream, r.log]), [
      ['stderr', 'stderr before the stop'],
      ['stderr', 'stderr between the pieces'],
      ['stdout', outText],
      ['stderr', 'stderr after the restart'],
    ]);
    assert.equal(records[2]!.time, '2024-01-15T10:20:30.000000001Z');
    assertTimes(records);
  });
}

test('a reload with pieces pending: the new instance reads them again and joins them, the lines between are not emitted twice', async () => {
  const dir = tempDir();
  const log = join(dir, 'c.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(log, '');
  const config = (extra: string) => writeConfig(dir, `
service:
  flush: 0.1
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: tail, path: ${log}, read_from_head: on, multiline.parser: docker, multiline.flush: 1h${extra} }
  outputs:
    - { name: file, match: '*', path: ${out} }
`);
  const s = Sluice.run(config(''));
  try {
    await s.started();
    const outText = long('out', 20_000);
    const [o1, o2] = dockerLines({ text: outText, stream: 'stdout', time: '2024-01-15T10:20:30.1Z' });
    appendFileSync(log, o1! + dockerLines({ text: 'between', stream: 'stderr', time: '2024-01-15T10:20:30.2Z' })[0]);
    await waitFor(() => delivered(out).length >= 1, 'the stderr line');
    config(', path_key: file');
    const res = await (await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' })).json();
    assert.equal(res.status, 'ok', JSON.stringify(res));
    appendFileSync(log, o2!);
    await waitFor(() => delivered(out).some((r) => r.stream === 'stdout'), 'the joined record');
    await s.settle(300);
    assert.deepEqual(delivered(out).map((r) => [r.stream, r.log, r.file]), [
      ['stderr', 'between\n', undefined],
      ['stdout', `${outText}\n`, log],
    ]);
  } finally {
    s.kill('SIGTERM');
    await s.exit();
  }
});

test('config errors: an unknown multiline parser, a user one, docker_mode with multiline.parser', async () => {
  const dir = tempDir();
  const s = new Sluice(['validate', '-c', writeConfig(dir, `
multiline_parsers:
  - name: my_ml
    type: regex
    rules:
      - { state: start_state, regex: '/^\\d/', next_state: cont }
pipeline:
  inputs:
    - { name: tail, path: /tmp/x.log, multiline.parser: 'docker, dockr' }
    - { name: tail, path: /tmp/x.log, multiline.parser: my_ml }
    - { name: tail, path: /tmp/x.log, multiline.parser: java }
    - { name: tail, path: /tmp/x.log, multiline.parser: cri, docker_mode: on }
  outputs:
    - { name: null, match: '*' }
`)]);
  assert.equal((await s.exit()).code, 2);
  const text = s.stderrText.join('\n');
  assert.match(text, /pipeline\.inputs\[0\]\.multiline\.parser: unknown multiline parser "dockr"; did you mean "docker"\?/);
  assert.match(text, /pipeline\.inputs\[1\]\.multiline\.parser: "my_ml" is defined in multiline_parsers, but tail cannot use user multiline parsers yet/);
  assert.match(text, /pipeline\.inputs\[2\]\.multiline\.parser: tail takes only docker and cri in multiline\.parser; Fluent Bit's "java" is in sluice's multiline filter/);
  assert.match(text, /pipeline\.inputs\[3\]\.docker_mode: cannot be used with multiline\.parser/);
});

test('classic format: Multiline.Parser in any case, given on two lines as Fluent Bit allows; a list in YAML', async () => {
  const dir = tempDir();
  const log = join(dir, 'c.log');
  const out = join(dir, 'out.jsonl');
  writeFileSync(log, [...dockerLines({ text: 'from docker', stream: 'stdout', time: '2024-01-15T10:20:30Z' }), ...criLines({ text: 'from cri', stream: 'stderr', times: ['2024-01-15T10:20:31Z'] })].join(''));
  const classic = join(dir, 'fluent-bit.conf');
  writeFileSync(classic, `[SERVICE]
    Flush 0.2

[INPUT]
    Name             tail
    Path             ${log}
    Read_From_Head   On
    Exit_On_Eof      On
    Multiline.Parser docker
    multiline.parser cri

[OUTPUT]
    Name  file
    Match *
    Path  ${out}
`);
  const s = Sluice.run(classic);
  assert.equal((await s.exit()).code, 0, s.stderrText.join('\n'));
  assert.deepEqual(delivered(out).map((r) => [r.stream, r.log]), [['stdout', 'from docker\n'], ['stderr', 'from cri']]);
  const v = new Sluice(['validate', '-c', writeConfig(dir, `
pipeline:
  inputs:
    - { name: tail, path: ${log}, multiline.parser: [docker, cri] }
  outputs:
    - { name: null, match: '*' }
`)]);
  assert.equal((await v.exit()).code, 0, v.stderrText.join('\n'));
});
