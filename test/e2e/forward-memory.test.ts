// The forward input's memory does not grow with what it takes: 3,000
// PackedForward frames of 1,000 events (~600 MB), 4 unacknowledged at a
// time as out_forward sends them, through memory storage to null. A frame,
// a chunk or an ack kept past its time would each pin ~200 KB per frame,
// ~600 MB in all.
//
// Peak host RSS (VmHWM) from source on the shared 2-core machine: 151-181
// MiB (six runs, three of them side by side); with each frame's bytes kept
// (a leak put in by hand) 1,332. Frames are packed as they are sent, so
// the test process does not hold them all. The bench's forward-null once
// showed the host's RSS growing with the lines sent: that was its probe
// counting the bench's own memory (test/unit/bench-probe.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';
import { EventTime, ForwardClient, pack } from '../helpers/forward.ts';

const FRAMES = 3000;
const FRAME_EVENTS = 1000;
const WINDOW = 4;
/** Well above what the host holds (under 190 MiB), far under what keeping every frame (or chunk) would add. */
const RSS_BOUND_MIB = 320;

function peakRssMiB(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

test(`forward → null, ${FRAMES} frames of ${FRAME_EVENTS} events with acks: host peak RSS stays under ${RSS_BOUND_MIB} MiB`, async () => {
  const parts: Buffer[] = [];
  for (let i = 0; i < FRAME_EVENTS; i++) parts.push(pack([new EventTime(1735689600, i), { log: `event ${i} ${'x'.repeat(170)}` }]));
  const entries = Buffer.concat(parts);
  const s = Sluice.run(writeConfig(tempDir(), `
service:
  grace: 60
pipeline:
  inputs:
    - name: forward
      listen: 127.0.0.1
      port: 0
  outputs:
    - name: 'null'
      match: '*'
`));
  try {
    const port = (await s.waitForLog((l) => l.msg === 'forward input listening', 'the forward input to listen')).port as number;
    const client = await ForwardClient.connect(port);
    let next = 0;
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      const pump = () => {
        while (next < FRAMES && next - acked < WINDOW) {
          const chunk = `f${next++}`;
          client.ack(chunk).then(() => {
            if (++acked === FRAMES) resolve();
            else pump();
          }, reject);
          client.socket.write(pack(['app', entries, { chunk, size: FRAME_EVENTS }]));
        }
      };
      pump();
    });
    await client.end();
    const peak = peakRssMiB(s.proc.pid!);
    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0);
    assert.deepEqual(s.findLog((l) => l.msg === 'sluice stopped')?.delivered, { 'null.0': FRAMES * FRAME_EVENTS });
    console.log(`forward-memory: ${FRAMES} frames, ${FRAMES * FRAME_EVENTS} events, peak host RSS (VmHWM) ${peak.toFixed(0)} MiB`);
    assert.ok(peak < RSS_BOUND_MIB, `host peak RSS ${peak.toFixed(0)} MiB is over ${RSS_BOUND_MIB} MiB`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nsluice stderr: ${s.stderrText.slice(-20).join('\n')}\nlast logs: ${s.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
  } finally {
    if (s.proc.exitCode === null) s.kill();
  }
});
