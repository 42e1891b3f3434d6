// The bench's probe (bench/cpu-probe.mjs) reports a process's own peak RSS,
// not what its parent held when it was spawned. getrusage's maxRSS survives
// execve and libuv spawns by fork, so a child of a 600 MiB process reported
// 600 MiB: the forward-null bench, whose frames are built before the host
// starts, showed the host's peak RSS growing with the lines sent (161 MiB at
// 200,000, 650 at 1,000,000) while the host itself stayed at 116-126 MiB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/sluice.ts';

const PROBE = join(import.meta.dirname, '../../bench/cpu-probe.mjs');
/** What the parent holds (every page touched) when it spawns the child. */
const HELD_MIB = 400;
/** A bare Node process is about 45 MiB; the parent's memory alone is far over this. */
const CHILD_BOUND_MIB = 200;

test(`a process spawned by one that holds ${HELD_MIB} MiB reports its own peak RSS, under ${CHILD_BOUND_MIB} MiB`, () => {
  const held: Buffer[] = [];
  for (let i = 0; i < HELD_MIB; i++) held.push(Buffer.alloc(1 << 20, 1));
  const rss = process.memoryUsage().rss / 1048576;
  assert.ok(rss > HELD_MIB, `the parent's RSS is only ${rss.toFixed(0)} MiB: the test does not hold what it means to`);
  const dir = tempDir();
  execFileSync(process.execPath, ['-e', ''], { env: { ...process.env, NODE_OPTIONS: `--import=${PROBE}`, SLUICE_BENCH_PROBE_DIR: dir } });
  const files = readdirSync(dir);
  assert.equal(files.length, 1, `the probe wrote ${files.length} records`);
  const record = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as { maxRssMiB: number };
  assert.ok(record.maxRssMiB > 10, `peak RSS ${record.maxRssMiB} MiB is not a Node process's`);
  assert.ok(record.maxRssMiB < CHILD_BOUND_MIB, `the child reported ${record.maxRssMiB.toFixed(0)} MiB, its parent's ${rss.toFixed(0)} MiB rather than its own`);
  held.length = 0;
});
