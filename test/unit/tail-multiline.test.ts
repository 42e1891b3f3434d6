// tail's multiline positions: FileJoiner (modes tried in order), resumeAt
// (where a restart reads again from) and replays (which lines of that
// stretch were pending, and which were emitted already).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FileJoiner, readReplay, replays, resumeAt, streamKey, type Replay, type Resume, type TailRecord } from '../../host/inputs/tail/multiline.ts';
import type { MultilineMode } from '../../host/parsers/multiline.ts';

const T = '2024-01-15T10:20:30.000000001Z';
const docker = (log: string, stream = 'stdout') => JSON.stringify({ log, stream, time: T });
const cri = (text: string, tag: 'P' | 'F', stream = 'stdout') => `${T} ${stream} ${tag} ${text}`;

function joiner(modes: MultilineMode[], maxBytes?: number): { j: FileJoiner; out: TailRecord[] } {
  const out: TailRecord[] = [];
  return { j: new FileJoiner(modes, (r) => out.push(r), maxBytes), out };
}

describe('FileJoiner', () => {
  test('each line goes to the first mode that reads it; pieces join within a mode and a stream only', () => {
    const { j, out } = joiner(['docker', 'cri']);
    let at = 0;
    const push = (l: string) => {
      j.push(l, at, 0);
      at += l.length + 1;
    };
    push(docker('d-out-1 '));
    push(cri('c-out-1 ', 'P'));
    push(docker('d-err-1 ', 'stderr'));
    push('neither');
    push(cri('c-out-2', 'F'));
    push(docker('d-out-2\n'));
    push(docker('d-err-2\n', 'stderr'));
    assert.deepEqual(out.map((r) => [r.mode, r.stream, r.body.log, r.reason, r.offset]), [
      [undefined, '', 'neither', 'unparsed', docker('d-out-1 ').length + cri('c-out-1 ', 'P').length + docker('d-err-1 ', 'stderr').length + 3],
      ['cri', 'stdout', 'c-out-1 c-out-2', 'final', docker('d-out-1 ').length + 1],
      ['docker', 'stdout', 'd-out-1 d-out-2\n', 'final', 0],
      ['docker', 'stderr', 'd-err-1 d-err-2\n', 'final', docker('d-out-1 ').length + cri('c-out-1 ', 'P').length + 2],
    ]);
    assert.equal(j.hasPending, false);
  });

  test('starts, flushIdle and nextIdleAt', () => {
    const { j, out } = joiner(['docker', 'cri']);
    j.push(docker('a'), 0, 1000);
    j.push(cri('b', 'P', 'stderr'), 50, 1500);
    assert.deepEqual([...j.starts()], [['docker:stdout', 0], ['cri:stderr', 50]]);
    assert.equal(j.nextIdleAt(4000), 5000);
    assert.equal(j.flushIdle(4999, 4000), false);
    assert.equal(j.flushIdle(5000, 4000), true);
    assert.deepEqual(out.map((r) => [r.mode, r.body.log, r.reason]), [['docker', 'a', 'flush']]);
    assert.equal(j.nextIdleAt(4000), 5500);
    // A new piece restarts its stream's wait.
    j.push(cri('c', 'P', 'stderr'), 80, 5400);
    assert.equal(j.flushIdle(5500, 4000), false);
    j.flush();
    assert.equal(out[1]!.body.log, 'bc');
    assert.equal(j.nextIdleAt(4000), undefined);
  });
});

describe('resumeAt and replays', () => {
  test('nothing pending: no resume point', () => {
    assert.equal(resumeAt(100, new Map(), ['docker'], undefined), undefined);
    assert.equal(resumeAt(100, undefined, [], undefined), undefined);
  });

  test('pending pieces: back to the first of them, with the streams that were pending', () => {
    assert.deepEqual(resumeAt(300, new Map([['docker:stdout', 120], ['docker:stderr', 40]]), ['docker'], undefined), {
      offset: 40,
      replay: { until: 300, modes: ['docker'], streams: { 'docker:stdout': 120, 'docker:stderr': 40 } },
    });
  });

  test('working through a note: its streams go on from where reading is, until its end', () => {
    const prev: Replay = { until: 500, modes: ['cri'], streams: { 'cri:stdout': 100, 'cri:stderr': 200 } };
    // Read up to 300; stdout's pieces are pending again (from 100), stderr's were flushed meanwhile.
    assert.deepEqual(resumeAt(300, new Map([['cri:stdout', 100]]), ['cri'], prev), {
      offset: 100,
      replay: { until: 500, modes: ['cri'], streams: { 'cri:stdout': 100, 'cri:stderr': 300 } },
    });
    // Nothing pending, but lines up to 500 were emitted already: they stay skipped.
    assert.deepEqual(resumeAt(300, new Map(), ['cri'], prev), { offset: 300, replay: { until: 500, modes: ['cri'], streams: { 'cri:stdout': 300, 'cri:stderr': 300 } } });
    // Past the note's end: it is done with.
    assert.equal(resumeAt(500, new Map(), ['cri'], prev), undefined);
    // A note from a config with other modes keeps them, after the current ones.
    assert.deepEqual(resumeAt(300, undefined, [], prev)!.replay!.modes, ['cri']);
    assert.deepEqual(resumeAt(300, new Map([['docker:stdout', 250]]), ['docker'], prev)!.replay!.modes, ['docker', 'cri']);
  });

  test('replays: a line of a pending stream at or after its start is read again; every other line is skipped', () => {
    const r: Replay = { until: 1000, modes: ['docker', 'cri'], streams: { 'docker:stdout': 100 } };
    assert.equal(replays(r, docker('x'), 100), true);
    assert.equal(replays(r, docker('x'), 99), false);
    assert.equal(replays(r, docker('x', 'stderr'), 200), false);
    assert.equal(replays(r, cri('x', 'P'), 200), false);
    assert.equal(replays(r, 'neither', 200), false);
  });

  test('a line both modes could read counts as the first mode\'s, as when it was read', () => {
    const both = '{"log":"a stdout F b"}';
    assert.equal(streamKey(['docker', 'cri'], both), 'docker:');
    assert.equal(streamKey(['cri', 'docker'], both), 'cri:stdout');
  });

  test('readReplay takes back what the db holds, and nothing else', () => {
    const r: Replay = { until: 10, modes: ['docker', 'cri'], streams: { 'docker:stdout': 3 } };
    assert.deepEqual(readReplay(JSON.parse(JSON.stringify(r))), r);
    for (const bad of [undefined, null, 5, {}, { until: 1.5, modes: [], streams: {} }, { until: 1, modes: ['java'], streams: {} }, { until: 1, modes: [], streams: { a: -1 } }, { until: 1, modes: [], streams: null }]) {
      assert.equal(readReplay(bad), undefined, JSON.stringify(bad));
    }
  });
});

/**
 * A file of lines and a reader that works like TailFile: every line goes
 * through the replay note and the joiner, and after each line the resume
 * point is worked out. A "restart" after line k keeps what was emitted so
 * far and the resume point, and reads on from there with a new joiner.
 */
function runWithRestarts(modes: MultilineMode[], lines: string[], cuts: number[], maxBytes: number): TailRecord[] {
  const offsets: number[] = [];
  let at = 0;
  for (const l of lines) {
    offsets.push(at);
    at += Buffer.byteLength(l) + 1;
  }
  const emitted: TailRecord[] = [];
  let resume: Resume | undefined;
  const next = 0;
  const stops = [...cuts.filter((c) => c < lines.length).sort((a, b) => a - b), lines.length];
  for (const stop of stops) {
    const { j, out } = joiner(modes, maxBytes);
    let replaying = resume?.replay;
    let i = resume ? offsets.findIndex((o) => o >= resume!.offset) : next;
    if (i < 0) i = lines.length;
    for (; i < stop; i++) {
      const o = offsets[i]!;
      const lineEnd = o + Buffer.byteLength(lines[i]!) + 1;
      if (!(replaying && o < replaying.until && !replays(replaying, lines[i]!, o))) j.push(lines[i]!, o, 0);
      if (replaying && lineEnd >= replaying.until) replaying = undefined;
      resume = replaying || j.hasPending ? resumeAt(lineEnd, j.starts(), modes, replaying) : { offset: lineEnd };
    }
    if (stop === lines.length) j.flush();
    emitted.push(...out);
  }
  return emitted;
}

describe('restarts from the resume point', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '{', '"'), maxLength: 12 });
  const line = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom('stdout', 'stderr'), text, fc.boolean()).map(([s, t, last]) => docker(last ? `${t}\n` : t, s)) },
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom('stdout', 'stderr'), text, fc.boolean()).map(([s, t, last]) => cri(t, last ? 'F' : 'P', s)) },
    { weight: 1, arbitrary: text.map((t) => `plain ${t}`) },
  );

  test('whatever the cuts, every record comes out once, the same as without them', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), fc.array(fc.nat(40), { maxLength: 4 }), fc.integer({ min: 4, max: 64 }), (lines, cuts, maxBytes) => {
        const modes: MultilineMode[] = ['docker', 'cri'];
        const key = (r: TailRecord) => JSON.stringify([r.mode, r.stream, r.offset, r.body.log, r.parts]);
        const whole = runWithRestarts(modes, lines, [], maxBytes).map(key).sort();
        const cut = runWithRestarts(modes, lines, cuts, maxBytes).map(key).sort();
        assert.deepEqual(cut, whole);
      }),
      { numRuns: 1000 },
    );
  });
});
