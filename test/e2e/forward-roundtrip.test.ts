// Acceptance: sluice A (tail → forward output, require_ack_response) sends to
// sluice B (forward input → file output, filesystem storage). B is killed
// with SIGKILL in the middle of the stream, A keeps reading lines while B
// is down, and B is started again on the same storage path and port. Every
// line ends up in B's output at least once; duplicates are only what
// docs/forward.md allows: whole chunks that were in flight when B died
// (A's forward chunks whose ack was lost, and B's own file chunks whose OK
// it had not recorded), so each duplicate is a line of one of a few
// contiguous runs, and no line is there more than three times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { appendNumbered, countLines, readDelivered } from '../helpers/lines.ts';
import { metric } from '../helpers/metrics.ts';
import { Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';

const LINES = 180_000;
const KILL_AT = 40_000;
/** Kill then even if no chunk of A was seen in flight. */
const FALLBACK_KILL_AT = 100_000;
const WORKERS = 2;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Runs of consecutive numbers in a sorted list: [first, last] each. */
function runs(sorted: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const n of sorted) {
    const last = out[out.length - 1];
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

test('sluice → forward (acks) → sluice: the receiver SIGKILLed mid-stream and restarted loses no line; duplicates are whole in-flight chunks only', async (t) => {
  const dir = tempDir('sluice-forward-roundtrip-');
  const input = join(dir, 'in.log');
  const out = join(dir, 'b-out.jsonl');
  const port = await freePort();
  const bConfig = writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
  storage.path: ${dir}/b-storage
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: ${port}, storage.type: filesystem }
  outputs:
    - { name: file, match: '*', path: ${out}, json_date_key: '', workers: ${WORKERS} }
`, 'b.yaml');
  const aConfig = writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 1
pipeline:
  inputs:
    - { name: tail, path: ${input}, read_from_head: true }
  outputs:
    - name: forward
      match: '*'
      host: 127.0.0.1
      port: ${port}
      require_ack_response: true
      retry_limit: no_limits
      workers: ${WORKERS}
`, 'a.yaml');

  let b = Sluice.run(bConfig);
  t.after(() => b.kill());
  await b.waitForLog((l) => l.msg === 'forward input listening', 'B to listen');
  const a = Sluice.run(aConfig);
  t.after(() => a.kill());
  const aMetric = async (name: string, labels: { [k: string]: string }) => metric(await a.api('/api/v1/metrics/prometheus'), name, labels);
  const aDelivered = () => aMetric('sluice_output_proc_records_total', { name: 'forward.0' });

  // Lines come in a steady stream, so A is forwarding when B dies, and keeps reading while B is down.
  let written = 0;
  const writer = (async () => {
    while (written < LINES) {
      const to = Math.min(LINES, written + 2000);
      appendNumbered(input, 'l', written, to);
      written = to;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();

  // Past KILL_AT, preferably with a chunk of A in flight (written, its ack not back): the case that makes duplicates.
  let inFlight = 0;
  await waitFor(async () => {
    const delivered = await aDelivered();
    inFlight = await aMetric('sluice_plugin_forward_in_flight_chunks', { output: 'forward.0' });
    return delivered >= KILL_AT && (inFlight > 0 || delivered >= FALLBACK_KILL_AT);
  }, `A to deliver ${KILL_AT} lines`, { everyMs: 2, progress: aDelivered });
  b.kill('SIGKILL');
  await b.exit();
  const atKill = await aDelivered();
  assert.ok(atKill < LINES, `A had delivered ${atKill} of ${LINES} lines when B was killed: not the middle of the stream`);

  // While B is down, A's forward output answers RETRY (connection refused) and A keeps its chunks.
  await waitFor(async () => (await aMetric('sluice_plugin_forward_errors_total', { output: 'forward.0', kind: 'connect_refused' })) > 0, 'A to find B down', {
    progress: () => aMetric('sluice_output_retries_total', { name: 'forward.0' }),
  });
  await writer;

  b = Sluice.run(bConfig);
  await b.waitForLog((l) => l.msg === 'forward input listening', 'B to listen again');
  await waitFor(() => new Set(readDelivered(out).byPrefix.get('l')).size >= LINES, `all ${LINES} lines in B's output`, { progress: () => countLines(out) });

  // Why A's chunks failed: the ones in flight at the kill (reset, closed), then connection refused while B was down.
  const aFailed = Object.fromEntries(await Promise.all(['reset', 'closed', 'ack_timeout', 'connect_refused'].map(async (kind) => [kind, await aMetric('sluice_plugin_forward_errors_total', { output: 'forward.0', kind })])));

  // Both stop cleanly: A has nothing left in flight, B nothing left to write.
  a.kill('SIGTERM');
  b.kill('SIGTERM');
  assert.equal((await a.exit()).code, 0, a.stderrText.join('\n'));
  assert.equal((await b.exit()).code, 0, b.stderrText.join('\n'));

  const delivered = readDelivered(out).byPrefix.get('l')!;
  const copies = new Map<number, number>();
  for (const n of delivered) copies.set(n, (copies.get(n) ?? 0) + 1);
  for (let i = 0; i < LINES; i++) if (!copies.has(i)) assert.fail(`line ${i} lost`);
  assert.equal(copies.size, LINES, 'only lines that were written');
  const dup = [...copies].filter(([, c]) => c > 1).map(([n]) => n).sort((x, y) => x - y);
  const dupRuns = runs(dup);
  t.diagnostic(`${delivered.length - LINES} duplicate lines in ${dupRuns.length} runs (${dupRuns.map(([f, l]) => `${f}-${l}`).join(', ') || 'none'}); A had delivered ${atKill} lines at the kill, ${inFlight} chunk(s) in flight; A's failed sends by cause: ${JSON.stringify(aFailed)}`);
  // One kill: a line may be re-sent by A (its ack lost) and re-written by B (its file output's OK not recorded): three copies at most.
  const most = [...copies.values()].reduce((m, c) => Math.max(m, c), 0);
  assert.ok(most <= 3, `a line ${most} times`);
  // Whole chunks only: A's in flight (workers), and B's in flight to its file output (workers, each chunk possibly two runs of A's lines).
  assert.ok(dupRuns.length <= WORKERS + 2 * WORKERS, `duplicates in ${dupRuns.length} runs: more than the chunks in flight at the kill`);
});
