import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Parsers } from '../../../host/parsers/registry.ts';
import { STOCK_PARSERS } from '../../../host/parsers/stock.ts';
import type { Parsed } from '../../../host/parsers/parser.ts';

const FIXTURES = new URL('../../fixtures/parsers/', import.meta.url);
// Formats without a year read it from the clock.
const parsers = new Parsers([], { now: () => Date.UTC(2025, 5, 15) });

function lines(file: string): string[] {
  return readFileSync(new URL(file, FIXTURES), 'utf8').split('\n').filter((l) => l !== '');
}

/** Parses every line of a fixture with a stock parser; each must parse, with a time when the parser reads one. */
function parseAll(parser: string, file: string): Parsed[] {
  const p = parsers.get(parser)!;
  const def = STOCK_PARSERS.find((d) => d.name === parser)!;
  return lines(file).map((line) => {
    const r = p.parse(line);
    assert.ok(r, `${parser} did not parse ${JSON.stringify(line)}`);
    assert.equal(r.timeError, undefined, `${parser}: ${r.timeError}`);
    if (def.time_format) assert.ok(r.time, `${parser}: no time from ${JSON.stringify(line)}`);
    return r;
  });
}

const iso = (r: Parsed) => r.time?.toISOString();

describe('stock parsers on real lines', () => {
  test('docker: json-file lines, time kept, nanoseconds kept, times without a fraction', () => {
    const rs = parseAll('docker', 'docker-json-file.log');
    assert.deepEqual(rs[0]!.body, { log: '2024/01/15 10:20:30 [notice] 1#1: using the "epoll" event method\n', stream: 'stderr', time: '2024-01-15T10:20:30.411825836Z' });
    assert.equal(iso(rs[0]!), '2024-01-15T10:20:30.411825836Z');
    assert.equal(iso(rs[2]!), '2024-01-15T10:20:32.000000000Z');
    // A piece docker cut (no "\n"): the docker parser does not join; multiline does.
    assert.equal(rs[3]!.body.log, 'Exception in thread "main" java.lang.IllegalStateException: first piece of a line docker cut ');
    assert.deepEqual(rs[7]!.body.attrs, { tag: 'web' });
  });

  test('cri: containerd / CRI-O lines, the text as message (Fluent Bit\'s stock field)', () => {
    const rs = parseAll('cri', 'cri.log');
    assert.deepEqual(rs[0]!.body, { time: '2024-01-15T10:20:30.411825836Z', stream: 'stderr', logtag: 'F', message: '2024/01/15 10:20:30 [notice] 1#1: using the "epoll" event method' });
    assert.equal(iso(rs[0]!), '2024-01-15T10:20:30.411825836Z');
    assert.equal(rs[2]!.body.logtag, 'P');
    assert.equal(iso(rs[6]!), '2024-01-15T10:20:34.500000000Z');
    // An empty line: the message matched empty text and is left out (skip_empty_values).
    assert.deepEqual(rs[7]!.body, { time: '2024-01-15T10:20:35.000000000Z', stream: 'stdout', logtag: 'F' });
  });

  test('syslog-rfc5424: RFC 5424 examples and structured data with escapes', () => {
    const rs = parseAll('syslog-rfc5424', 'syslog-rfc5424.log');
    assert.deepEqual(rs[0]!.body, { pri: '34', time: '2003-10-11T22:14:15.003Z', host: 'mymachine.example.com', ident: 'su', pid: '-', msgid: 'ID47', extradata: '-', message: "'su root' failed for lonvick on /dev/pts/8" });
    assert.equal(iso(rs[0]!), '2003-10-11T22:14:15.003000000Z');
    assert.equal(iso(rs[1]!), '2003-08-24T12:14:15.000003000Z');
    assert.equal(rs[2]!.body.extradata, '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]');
    assert.equal(rs[2]!.body.message, 'An application event log entry...');
    assert.equal(rs[3]!.body.extradata, '[meta sequenceId="1" note="a \\"quoted\\] value"]');
    assert.equal(rs[3]!.body.message, 'Accepted publickey for deploy');
    assert.equal(iso(rs[3]!), '2024-01-15T09:20:30.000000000Z');
  });

  test('syslog-rfc3164: BSD syslog, year from the clock', () => {
    const rs = parseAll('syslog-rfc3164', 'syslog-rfc3164.log');
    assert.deepEqual(rs[0]!.body, { pri: '34', time: 'Oct 11 22:14:15', host: 'mymachine', ident: 'su', message: "'su root' failed for lonvick on /dev/pts/8" });
    assert.equal(iso(rs[0]!), '2025-10-11T22:14:15.000000000Z');
    assert.deepEqual(rs[1]!.body, { pri: '13', time: 'Feb  5 17:32:18', host: '10.0.0.99', ident: 'sshd', pid: '1234', message: 'Accepted publickey for root from 10.0.0.1 port 52333 ssh2' });
    assert.equal(iso(rs[1]!), '2025-02-05T17:32:18.000000000Z');
    assert.equal(rs[2]!.body.ident, 'CRON');
    assert.equal(rs[3]!.body.message, '[12345.678901] eth0: link up');
  });

  test('syslog-rfc3164-local: no host', () => {
    const r = parsers.get('syslog-rfc3164-local')!.parse('<13>Feb  5 17:32:18 sshd[1234]: Accepted publickey for root')!;
    assert.deepEqual(r.body, { pri: '13', time: 'Feb  5 17:32:18', ident: 'sshd', pid: '1234', message: 'Accepted publickey for root' });
  });

  test('apache: common and combined log formats', () => {
    const rs = parseAll('apache', 'apache-access.log');
    assert.deepEqual(rs[0]!.body, { host: '127.0.0.1', user: 'frank', method: 'GET', path: '/apache_pb.gif', code: '200', size: '2326' });
    assert.equal(iso(rs[0]!), '2000-10-10T20:55:36.000000000Z');
    assert.deepEqual(rs[1]!.body, { host: '192.168.2.20', user: '-', method: 'GET', path: '/cgi-bin/try/', code: '200', size: '3395', referer: 'http://www.example.com/start.html', agent: 'Mozilla/4.08 [en] (Win98; I ;Nav)' });
    assert.equal(rs[2]!.body.path, '/api/v1/items?id=7');
    assert.deepEqual(rs[3]!.body, { host: '10.0.0.6', user: '-', method: '-', code: '408', size: '-', referer: '-', agent: '-' });
  });

  test('apache2: the same lines', () => {
    const rs = parseAll('apache2', 'apache-access.log');
    assert.equal(rs[1]!.body.agent, 'Mozilla/4.08 [en] (Win98; I ;Nav)');
    assert.equal(rs[2]!.body.path, '/api/v1/items?id=7');
  });

  test('apache_error: 2.4 error log lines, time left as text (no time_format, as Fluent Bit)', () => {
    const rs = parseAll('apache_error', 'apache-error.log');
    assert.deepEqual(rs[0]!.body, { time: 'Oct 11 14:32:52.123456 2000', level: 'core:error', pid: '35708:tid 4328636416', client: '72.15.99.187:52431', message: 'AH00128: File does not exist: /usr/local/apache2/htdocs/favicon.ico' });
    assert.equal(rs[0]!.time, undefined);
    assert.equal(rs[1]!.body.client, undefined);
    assert.equal(rs[1]!.body.level, 'mpm_event:notice');
  });

  test('nginx: combined format, extra fields after the agent allowed', () => {
    const rs = parseAll('nginx', 'nginx-access.log');
    assert.deepEqual(rs[0]!.body, { remote: '93.180.71.3', host: '-', user: '-', method: 'GET', path: '/downloads/product_1', code: '304', size: '0', referer: '-', agent: 'Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)' });
    assert.equal(iso(rs[0]!), '2015-05-17T08:05:32.000000000Z');
    assert.equal(rs[1]!.body.agent, 'kube-probe/1.28');
    assert.equal(rs[2]!.body.user, 'alice');
    assert.equal(iso(rs[2]!), '2024-01-15T09:20:32.000000000Z');
    assert.equal(rs[3]!.body.method, '\\x16\\x03\\x01');
  });

  test('json: Fluent Bit\'s stock json reads time as an access-log time', () => {
    const r = parsers.get('json')!.parse('{"time":"17/May/2015:08:05:32 +0000","msg":"x"}')!;
    assert.deepEqual(r.body, { msg: 'x' });
    assert.equal(iso(r), '2015-05-17T08:05:32.000000000Z');
    assert.match(parsers.get('json')!.parse('{"time":"2015-05-17T08:05:32Z"}')!.timeError!, /does not match/);
  });

  test('logfmt', () => {
    assert.deepEqual(parsers.get('logfmt')!.parse('ts=2024-01-15T10:20:30Z level=warn msg="disk at 91%" disk=/dev/sda1'), {
      body: { ts: '2024-01-15T10:20:30Z', level: 'warn', msg: 'disk at 91%', disk: '/dev/sda1' },
    });
  });

  test('each parser rejects the other formats\' lines rather than misreading them', () => {
    const reject: { [parser: string]: string[] } = {
      docker: ['cri.log', 'nginx-access.log'],
      cri: ['docker-json-file.log', 'syslog-rfc3164.log'],
      'syslog-rfc5424': ['syslog-rfc3164.log', 'cri.log'],
      'syslog-rfc3164': ['syslog-rfc5424.log', 'apache-access.log'],
      apache: ['apache-error.log', 'cri.log'],
      nginx: ['apache-error.log', 'syslog-rfc5424.log'],
      apache_error: ['apache-access.log', 'nginx-access.log'],
    };
    for (const [parser, files] of Object.entries(reject)) {
      for (const file of files) {
        for (const line of lines(file)) assert.equal(parsers.get(parser)!.parse(line), undefined, `${parser} read ${JSON.stringify(line)}`);
      }
    }
  });
});

describe('stock parsers: properties', () => {
  const samples = ['docker-json-file.log', 'cri.log', 'syslog-rfc5424.log', 'syslog-rfc3164.log', 'apache-access.log', 'apache-error.log', 'nginx-access.log'].flatMap(lines);
  const mutated = fc
    .tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.string({ unit: 'binary', maxLength: 4 })), { minLength: 1, maxLength: 4 }))
    .map(([line, edits]) => edits.reduce((s, [at, del, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice((at % (s.length + 1)) + del), line));

  test('random strings and mutated real lines never throw, for every stock parser', () => {
    const all = parsers.names().map((n) => parsers.get(n)!);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), mutated), (line) => {
        for (const p of all) {
          const r = p.parse(line);
          assert.ok(r === undefined || (typeof r.body === 'object' && r.body !== null), p.name);
          assert.ok(r === undefined || r.time === undefined || r.timeError === undefined, p.name);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('no stock regex backtracks badly on long hostile lines', () => {
    const hostile = [
      `<1>1 ${'['.repeat(5000)}`,
      `<1>1 - - - - - ${'[a b="'.repeat(2000)}`,
      `1.2.3.4 - - [x] "${'GET '.repeat(5000)}`,
      `1.2.3.4 - - [x] "GET ${'\\"'.repeat(5000)}`,
      `a b c [x] "GET / HTTP/1.1" 200 1 "${'\\'.repeat(9999)}`,
      `<1>Jan  1 00:00:00 ${'a'.repeat(20000)}`,
      `[a ${']'.repeat(20000)}`,
    ];
    for (const line of hostile) {
      for (const name of parsers.names()) {
        const start = performance.now();
        parsers.get(name)!.parse(line);
        const ms = performance.now() - start;
        assert.ok(ms < 200, `${name} took ${ms.toFixed(0)} ms on ${JSON.stringify(line.slice(0, 30))}…`);
      }
    }
  });
});
