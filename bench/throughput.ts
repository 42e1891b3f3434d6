// The columns every throughput scenario (a fixed input → one output) shows,
// and the row of one run.
import { BenchError, fixed, int, type Column, type Row } from './common.ts';
import { PLUGIN_CPU_DERIVED, PLUGIN_RSS_PROC, hostDelivered, splitCpu, type Delivery, type HostRun } from './host.ts';

export const THROUGHPUT_COLUMNS: Column[] = [
  { key: 'run', header: 'run', format: String },
  { key: 'lines', header: 'lines', format: int },
  { key: 'wallS', header: 'wall s', format: fixed(2) },
  { key: 'pipelineS', header: 'started→done s', format: fixed(2) },
  { key: 'linesPerS', header: 'lines/s', format: int },
  { key: 'mbPerS', header: 'MB/s', format: fixed(1) },
  { key: 'cpuS', header: 'CPU s', format: fixed(2) },
  { key: 'linesPerCpuS', header: 'lines/CPU-s', format: int },
  { key: 'hostCpuS', header: 'host CPU s', format: fixed(2) },
  { key: 'pluginCpuS', header: 'plugin CPU s', format: fixed(2), note: (r) => (r.pluginCpuFrom === 'probe' ? undefined : PLUGIN_CPU_DERIVED) },
  { key: 'hostRssMiB', header: 'host peak RSS MiB', format: fixed(0) },
  { key: 'pluginRssMiB', header: 'plugin peak RSS MiB', format: fixed(0), note: (r) => (r.pluginRssFrom === 'probe' ? undefined : PLUGIN_RSS_PROC) },
  { key: 'delivered', header: 'delivered (plugin)', format: int },
];

/** What --compare compares for a throughput scenario. */
export const THROUGHPUT_COMPARE = ['linesPerCpuS', 'wallS', 'cpuS', 'hostCpuS', 'pluginCpuS', 'hostRssMiB', 'pluginRssMiB'];

/**
 * One run's row. `delivered` is what the plugin reported; it and the host's
 * own count (its `sluice stopped` line) must both equal `lines`.
 */
export function throughputRow(index: number, lines: number, bytes: number, run: HostRun, t0: number, delivery: Delivery, delivered: number): Row {
  if (delivered !== lines) throw new BenchError(`the plugin reports ${delivered} events delivered, ${lines} were sent`);
  const counts = Object.entries(hostDelivered(run));
  if (counts.length === 0 || counts.some(([, n]) => n !== lines)) {
    throw new BenchError(`expected ${lines} records delivered, the host reported ${JSON.stringify(Object.fromEntries(counts))} at exit`);
  }
  const wallS = (delivery.at - t0) / 1000;
  const started = run.logs.find((l) => l.msg === 'sluice started')?.time;
  // The rates leave startup out: the pipeline's own time.
  const pipelineS = started ? (performance.timeOrigin + delivery.at - started) / 1000 : Number.NaN;
  const cpu = splitCpu(run);
  return {
    run: index + 1,
    lines,
    wallS,
    pipelineS,
    linesPerS: lines / pipelineS,
    mbPerS: bytes / 1e6 / pipelineS,
    ...cpu,
    linesPerCpuS: lines / cpu.cpuS,
    delivered,
    /** Spawn → the plugin reported everything: wall s plus the wait for the flush timer and the poll. */
    deliveredS: (delivery.deliveredAt - t0) / 1000,
    exitS: run.exitS,
    scrapes: delivery.scrapes,
  };
}
