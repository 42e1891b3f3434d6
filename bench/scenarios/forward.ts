// forward → null: a load generator in the bench process sends the bench file
// as PackedForward frames over loopback to the forward input.
import { readFileSync, statSync } from 'node:fs';
import { EventTime, ForwardClient, pack } from '../../test/helpers/forward.ts';
import { commonOutputKeys, fixed, int, type Scenario } from '../common.ts';
import { logFile } from '../data.ts';
import { HTTP_API, apiPort, awaitDelivered, checkExit, reportComplaints, runHost, type Delivery } from '../host.ts';
import { THROUGHPUT_COLUMNS, THROUGHPUT_COMPARE, throughputRow } from '../throughput.ts';
import { NULL_METRIC, NULL_OUTPUT } from './tail.ts';

/** Lines per PackedForward frame the load generator sends (about 200 KiB of entries). */
const FORWARD_FRAME_LINES = 1000;
/** Frames the load generator keeps unacknowledged, as out_forward with require_ack_response does. */
const FORWARD_WINDOW = 4;

/**
 * The bench file as PackedForward frames ({log: line}, EventTime), each with
 * option.chunk, over loopback to a forward input (memory storage) → null,
 * FORWARD_WINDOW frames unacknowledged at a time. The frames are built before
 * the host starts. Once the null plugin reports every line, the host gets
 * SIGTERM. The generator's CPU is the bench process's own, reported apart
 * (client CPU s), not in CPU s.
 */
export function forwardNull(): Scenario {
  return {
    name: 'forward-null',
    description: `PackedForward frames of ${FORWARD_FRAME_LINES} lines with acks (${FORWARD_WINDOW} unacked at a time) over loopback → forward input → null, memory storage`,
    columns: [
      ...THROUGHPUT_COLUMNS,
      { key: 'frames', header: 'frames', format: int },
      { key: 'sendS', header: 'first frame→last ack s', format: fixed(2) },
      { key: 'ackedLinesPerS', header: 'acked lines/s', format: int },
      { key: 'clientCpuS', header: 'client CPU s', format: fixed(2) },
    ],
    compare: THROUGHPUT_COMPARE,
    async setup(opts) {
      const file = logFile(opts.lines);
      const bytes = statSync(file).size;
      const text = readFileSync(file, 'latin1');
      const frames: { chunk: string; bytes: Buffer }[] = [];
      let start = 0;
      let line = 0;
      const base = Math.floor(Date.UTC(2025, 0, 1) / 1000);
      while (start < text.length) {
        const parts: Buffer[] = [];
        for (let i = 0; i < FORWARD_FRAME_LINES && start < text.length; i++, line++) {
          const nl = text.indexOf('\n', start);
          const end = nl === -1 ? text.length : nl;
          parts.push(pack([new EventTime(base + Math.floor(line / 1000), (line % 1000) * 1_000_000), { log: text.slice(start, end) }]));
          start = end + 1;
        }
        const chunk = `f${frames.length}`;
        frames.push({ chunk, bytes: pack(['bench', Buffer.concat(parts), { chunk, size: parts.length }]) });
      }
      const config = [
        '# Written by bench/run.ts (scenario forward-null).',
        'service:',
        '  log_level: info',
        '  grace: 60',
        ...HTTP_API,
        'pipeline:',
        '  inputs:',
        '    - name: forward',
        '      listen: 127.0.0.1',
        '      port: 0',
        '  outputs:',
        ...NULL_OUTPUT.output(''),
        ...commonOutputKeys(opts),
        '',
      ].join('\n');
      return async (index) => {
        let sendS = Number.NaN;
        let clientCpuS = Number.NaN;
        let delivery: Delivery | undefined;
        let t0 = 0;
        const run = await runHost(config, opts, async (host) => {
          t0 = host.t0;
          const port = await apiPort(host);
          const listening = await host.waitForLog((l) => l.msg === 'forward input listening', 'forward input listening', 120_000);
          const client = await ForwardClient.connect(listening.port as number);
          const tSend = performance.now();
          const cpu0 = process.cpuUsage();
          let next = 0;
          let acked = 0;
          await new Promise<void>((resolve, reject) => {
            const pump = () => {
              while (next < frames.length && next - acked < FORWARD_WINDOW) {
                const f = frames[next++]!;
                client.ack(f.chunk).then(() => {
                  acked++;
                  host.note = `${acked.toLocaleString('en')} of ${frames.length.toLocaleString('en')} frames acked`;
                  if (acked === frames.length) resolve();
                  else pump();
                }, reject);
                client.socket.write(f.bytes);
              }
            };
            pump();
          });
          sendS = (performance.now() - tSend) / 1000;
          const cpu = process.cpuUsage(cpu0);
          clientCpuS = (cpu.user + cpu.system) / 1e6;
          await client.end();
          delivery = await awaitDelivered(host, port, opts.lines, NULL_METRIC);
          await host.stop();
        });
        checkExit(run);
        reportComplaints(run);
        return {
          ...throughputRow(index, opts.lines, bytes, run, t0, delivery!, delivery!.plugin),
          frames: frames.length,
          sendS,
          ackedLinesPerS: opts.lines / sendS,
          clientCpuS,
        };
      };
    },
  };
}
