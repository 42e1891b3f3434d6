import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { MULTILINE_MAX_BYTES_DEFAULT, MultilineJoiner, type JoinedRecord, type MultilineMode } from '../../../host/parsers/multiline.ts';

const FIXTURES = new URL('../../fixtures/parsers/', import.meta.url);

function lines(file: string): string[] {
  return readFileSync(new URL(file, FIXTURES), 'utf8').split('\n').filter((l) => l !== '');
}

function joiner(mode: MultilineMode, maxBytes?: number): { j: MultilineJoiner; out: JoinedRecord[] } {
  const out: JoinedRecord[] = [];
  return { j: new MultilineJoiner(mode, (r) => out.push(r), { maxBytes }), out };
}

const dockerLine = (log: string, stream = 'stdout', time = '2024-01-15T10:20:30.000000001Z') => JSON.stringify({ log, stream, time });
const criLine = (text: string, tag: 'P' | 'F', stream = 'stdout', time = '2024-01-15T10:20:30.000000001Z') => `${time} ${stream} ${tag} ${text}`;

describe('multiline docker', () => {
  test('joins the pieces of the fixture per stream; whole lines pass through', () => {
    const { j, out } = joiner('docker');
    for (const l of lines('docker-json-file.log')) j.push(l);
    assert.equal(j.hasPending, false);
    assert.deepEqual(
      out.map((r) => [r.stream, r.parts, r.reason, r.body.log]),
      [
        ['stderr', 1, 'final', '2024/01/15 10:20:30 [notice] 1#1: using the "epoll" event method\n'],
        ['stdout', 1, 'final', '10.244.0.1 - - [15/Jan/2024:10:20:31 +0000] "GET / HTTP/1.1" 200 615 "-" "kube-probe/1.28" "-"\n'],
        ['stdout', 1, 'final', '{"level":"info","ts":1705314032.1,"msg":"starting"}\n'],
        ['stdout', 1, 'final', 'ready\n'],
        ['stderr', 3, 'final', 'Exception in thread "main" java.lang.IllegalStateException: first piece of a line docker cut at the 16 KiB mark, second piece, last piece\n'],
        ['stdout', 1, 'final', '\n'],
      ],
    );
    // The joined record is the first piece's: its time and fields.
    const joined = out[4]!;
    assert.equal(joined.time!.toISOString(), '2024-01-15T10:20:33.000000001Z');
    assert.deepEqual(Object.keys(joined.body), ['log', 'stream', 'time']);
    assert.equal(joined.body.time, '2024-01-15T10:20:33.000000001Z');
    assert.deepEqual(out[5]!.body.attrs, { tag: 'web' });
    assert.equal(out[2]!.time!.toISOString(), '2024-01-15T10:20:32.000000000Z');
    assert.deepEqual(j.stats, { records: 6, joined: 1, maxBytes: 0, flushed: 0, unparsed: 0, timeErrors: 0 });
  });

  test('flush emits what is pending, each stream apart', () => {
    const { j, out } = joiner('docker');
    j.push(dockerLine('out-1 ', 'stdout'));
    j.push(dockerLine('err-1 ', 'stderr'));
    j.push(dockerLine('out-2 ', 'stdout'));
    assert.equal(out.length, 0);
    assert.equal(j.pendingBytes, 18);
    j.flush();
    assert.deepEqual(out.map((r) => [r.stream, r.body.log, r.reason, r.parts]), [
      ['stdout', 'out-1 out-2 ', 'flush', 2],
      ['stderr', 'err-1 ', 'flush', 1],
    ]);
    assert.equal(j.stats.flushed, 2);
    assert.equal(j.hasPending, false);
    j.flush();
    assert.equal(out.length, 2);
  });

  test('lines that are not docker json are emitted as they are, without disturbing pending pieces', () => {
    const { j, out } = joiner('docker');
    j.push(dockerLine('a', 'stdout'));
    for (const l of ['plain text', '{"no":"log"}', '{"log":5}', '{broken', '']) j.push(l);
    j.push(dockerLine('b\n', 'stdout'));
    assert.deepEqual(out.map((r) => [r.reason, r.body.log]), [
      ['unparsed', 'plain text'],
      ['unparsed', '{"no":"log"}'],
      ['unparsed', '{"log":5}'],
      ['unparsed', '{broken'],
      ['unparsed', ''],
      ['final', 'ab\n'],
    ]);
    assert.equal(j.stats.unparsed, 5);
  });

  test('a bad time keeps the record, with timeError', () => {
    const { j, out } = joiner('docker');
    j.push(dockerLine('x\n', 'stdout', 'yesterday'));
    assert.equal(out[0]!.time, undefined);
    assert.match(out[0]!.timeError!, /does not match/);
    assert.equal(j.stats.timeErrors, 1);
  });

  test('max_bytes: pending pieces over the bound are emitted and counted; the rest starts a new record', () => {
    const { j, out } = joiner('docker', 10);
    j.push(dockerLine('123456'));
    j.push(dockerLine('7890'));
    assert.equal(out.length, 0);
    j.push(dockerLine('abc'));
    assert.deepEqual(out.map((r) => [r.body.log, r.reason, r.parts]), [['1234567890', 'max_bytes', 2]]);
    j.push(dockerLine('def\n'));
    assert.deepEqual(out.map((r) => [r.body.log, r.reason]), [['1234567890', 'max_bytes'], ['abcdef\n', 'final']]);
    // A single piece over the bound goes out at once.
    j.push(dockerLine('x'.repeat(11)));
    assert.equal(out[2]!.reason, 'max_bytes');
    assert.equal(j.hasPending, false);
    assert.equal(j.stats.maxBytes, 2);
  });

  test('max_bytes counts UTF-8 bytes', () => {
    const { j, out } = joiner('docker', 5);
    j.push(dockerLine('éé'));
    j.push(dockerLine('é'));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.body.log, 'éé');
    assert.equal(j.pendingBytes, 2);
  });

  test('the default bound is 512 KiB', () => {
    assert.equal(MULTILINE_MAX_BYTES_DEFAULT, 512 * 1024);
    assert.equal(new MultilineJoiner('docker', () => {}).maxBytes, 512 * 1024);
  });
});

describe('multiline cri', () => {
  test('joins P pieces with the F piece, per stream', () => {
    const { j, out } = joiner('cri');
    for (const l of lines('cri.log')) j.push(l);
    assert.deepEqual(
      out.map((r) => [r.stream, r.parts, r.body.log]),
      [
        ['stderr', 1, '2024/01/15 10:20:30 [notice] 1#1: using the "epoll" event method'],
        ['stdout', 1, '10.244.0.1 - - [15/Jan/2024:10:20:31 +0000] "GET / HTTP/1.1" 200 615 "-" "kube-probe/1.28" "-"'],
        ['stdout', 1, 'ready'],
        ['stderr', 3, 'Exception in thread "main" java.lang.IllegalStateException: first piece of a line the runtime cut at the 16 KiB mark, second piece, last piece'],
        ['stdout', 1, 'a node whose clock is in JST'],
        ['stdout', 1, ''],
      ],
    );
    // Fluent Bit's cri mode fields: the first piece's time text, stream and tag.
    assert.deepEqual(out[3]!.body, {
      time: '2024-01-15T10:20:33.000000001Z',
      stream: 'stderr',
      _p: 'P',
      log: 'Exception in thread "main" java.lang.IllegalStateException: first piece of a line the runtime cut at the 16 KiB mark, second piece, last piece',
    });
    assert.equal(out[3]!.time!.toISOString(), '2024-01-15T10:20:33.000000001Z');
    assert.equal(out[4]!.time!.toISOString(), '2024-01-15T10:20:34.500000000Z');
    assert.deepEqual(out[0]!.body, { time: '2024-01-15T10:20:30.411825836Z', stream: 'stderr', _p: 'F', log: '2024/01/15 10:20:30 [notice] 1#1: using the "epoll" event method' });
  });

  test('a tag may carry more tags after a colon', () => {
    const { j, out } = joiner('cri');
    j.push('2024-01-15T10:20:30Z stdout P:x one ');
    j.push('2024-01-15T10:20:30Z stdout F:y two');
    assert.equal(out[0]!.body.log, 'one two');
  });

  test('an F line without text (and without the space after the tag) is an empty record', () => {
    const { j, out } = joiner('cri');
    j.push('2024-01-15T10:20:30Z stdout F');
    assert.equal(out[0]!.body.log, '');
    assert.equal(out[0]!.reason, 'final');
  });

  test('lines that are not CRI are emitted as they are', () => {
    const { j, out } = joiner('cri');
    for (const l of ['hello', '2024-01-15T10:20:30Z stdin F x', '2024-01-15T10:20:30Z stdout X x', '2024-01-15T10:20:30Z stdout', ' stdout F x', '2024-01-15T10:20:30Z stdout FF x']) j.push(l);
    assert.ok(out.every((r) => r.reason === 'unparsed' && r.stream === '' && r.time === undefined));
    assert.equal(out.length, 6);
  });

  test('flush and max_bytes', () => {
    const { j, out } = joiner('cri', 8);
    j.push(criLine('abcd', 'P'));
    j.push(criLine('efgh', 'P'));
    j.push(criLine('ijk', 'P'));
    assert.deepEqual(out.map((r) => [r.body.log, r.reason]), [['abcdefgh', 'max_bytes']]);
    j.flush();
    assert.deepEqual(out.map((r) => [r.body.log, r.reason]), [['abcdefgh', 'max_bytes'], ['ijk', 'flush']]);
    assert.deepEqual(j.stats, { records: 2, joined: 1, maxBytes: 1, flushed: 1, unparsed: 0, timeErrors: 0 });
  });
});

describe('multiline offsets and idle pieces', () => {
  test('a record carries where its first line starts; pendingStarts tells where each stream\'s pieces start', () => {
    const { j, out } = joiner('cri');
    j.push(criLine('a', 'P'), 10, 0);
    j.push(criLine('x', 'P', 'stderr'), 40, 0);
    j.push(criLine('b', 'P'), 70, 0);
    assert.deepEqual([...j.pendingStarts()], [['stdout', 10], ['stderr', 40]]);
    j.push(criLine('c', 'F'), 100, 0);
    j.push('not cri', 130, 0);
    assert.deepEqual(out.map((r) => [r.body.log, r.offset]), [['abc', 10], ['not cri', 130]]);
    assert.deepEqual([...j.pendingStarts()], [['stderr', 40]]);
  });

  test('tryPush leaves a line it cannot read alone; streamOf reads without changing anything', () => {
    const { j, out } = joiner('docker');
    assert.equal(j.tryPush('plain'), false);
    assert.equal(j.stats.unparsed, 0);
    assert.equal(j.streamOf(dockerLine('a', 'stderr')), 'stderr');
    assert.equal(j.streamOf('{"log":"a"}'), '');
    assert.equal(j.streamOf('plain'), undefined);
    assert.equal(out.length, 0);
    assert.equal(j.hasPending, false);
  });

  test('flushIdle emits only the streams whose last piece is idleMs old', () => {
    const { j, out } = joiner('docker');
    j.push(dockerLine('a', 'stdout'), 0, 1000);
    j.push(dockerLine('b', 'stderr'), 30, 2000);
    j.push(dockerLine('a2', 'stdout'), 60, 2500);
    assert.equal(j.nextIdleAt(1000), 3000);
    assert.equal(j.flushIdle(2999, 1000), false);
    assert.equal(j.flushIdle(3000, 1000), true);
    assert.deepEqual(out.map((r) => [r.stream, r.body.log, r.reason, r.offset]), [['stderr', 'b', 'flush', 30]]);
    assert.equal(j.flushIdle(3500, 1000), true);
    assert.deepEqual(out.map((r) => r.body.log), ['b', 'aa2']);
    assert.equal(j.stats.flushed, 2);
  });
});

describe('multiline properties', () => {
  const text = fc.string({ unit: 'binary', maxLength: 40 });

  test('any message cut into pieces joins back to itself, streams interleaved', () => {
    for (const mode of ['docker', 'cri'] as const) {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.constantFrom('stdout', 'stderr'), fc.array(text.map((s) => s.replace(/[\n\r]/g, ' ')), { minLength: 1, maxLength: 5 })), { minLength: 1, maxLength: 6 }), (messages) => {
          const { j, out } = joiner(mode);
          // Interleave: the pieces of each stream stay in order; each stream's messages follow each other.
          const queues: { [s: string]: string[] } = { stdout: [], stderr: [] };
          const expected: { [s: string]: string[] } = { stdout: [], stderr: [] };
          for (const [stream, pieces] of messages) {
            const whole = pieces.join('');
            expected[stream]!.push(mode === 'docker' ? `${whole}\n` : whole);
            pieces.forEach((p, i) => {
              const last = i === pieces.length - 1;
              queues[stream]!.push(mode === 'docker' ? dockerLine(last ? `${p}\n` : p, stream) : criLine(p, last ? 'F' : 'P', stream));
            });
          }
          let turn = 0;
          while (queues.stdout!.length || queues.stderr!.length) {
            const q = queues[turn++ % 3 === 0 ? 'stderr' : 'stdout']!;
            if (q.length) j.push(q.shift()!);
          }
          assert.equal(j.hasPending, false);
          for (const stream of ['stdout', 'stderr']) {
            assert.deepEqual(out.filter((r) => r.stream === stream).map((r) => r.body.log), expected[stream]);
          }
          assert.ok(out.every((r) => r.reason === 'final' && r.time !== undefined));
        }),
        { numRuns: 300 },
      );
    }
  });

  test('pending text never exceeds max_bytes, and no text is lost', () => {
    fc.assert(
      fc.property(fc.constantFrom<MultilineMode>('docker', 'cri'), fc.integer({ min: 1, max: 64 }), fc.array(fc.tuple(text.map((s) => s.replace(/[\n\r]/g, ' ')), fc.boolean()), { maxLength: 30 }), (mode, max, pieces) => {
        const { j, out } = joiner(mode, max);
        let all = '';
        for (const [p, last] of pieces) {
          const t = mode === 'docker' && last ? `${p}\n` : p;
          all += t;
          j.push(mode === 'docker' ? dockerLine(t) : criLine(t, last ? 'F' : 'P'));
          assert.ok(j.pendingBytes <= max, `${j.pendingBytes} > ${max}`);
        }
        j.flush();
        assert.equal(out.map((r) => r.body.log).join(''), all);
      }),
      { numRuns: 500 },
    );
  });

  test('random strings and mutated lines never throw', () => {
    const samples = [...lines('docker-json-file.log'), ...lines('cri.log')];
    const mutated = fc
      .tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.string({ unit: 'binary', maxLength: 4 })), { minLength: 1, maxLength: 3 }))
      .map(([line, edits]) => edits.reduce((s, [at, del, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice((at % (s.length + 1)) + del), line));
    for (const mode of ['docker', 'cri'] as const) {
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), mutated), { maxLength: 20 }), fc.boolean(), (ls, flush) => {
          const { j, out } = joiner(mode, 64);
          for (const l of ls) j.push(l);
          if (flush) j.flush();
          assert.ok(out.every((r) => typeof r.body.log === 'string'));
          assert.equal(j.stats.records, out.length);
        }),
        { numRuns: 500 },
      );
    }
  });

  test('an unknown mode is refused', () => {
    assert.throws(() => new MultilineJoiner('java' as MultilineMode, () => {}), /unknown multiline mode "java"; known: docker, cri/);
  });
});
