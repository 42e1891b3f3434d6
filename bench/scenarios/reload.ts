// Hot reloads under load: tail of a file the bench keeps appending to → the
// batcher test plugin; --reloads SIGHUPs, each replacing the plugin.
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchError, commonOutputKeys, fixed, int, progress, sleep, type Column, type Row, type Scenario } from '../common.ts';
import { logFile } from '../data.ts';
import { PLUGIN_CPU_DERIVED, ROOT, checkExit, getJson, hostDelivered, promValue, reportComplaints, runHost, scrape, splitCpu } from '../host.ts';
import { percentile, table } from '../report.ts';

const BATCHER = join(ROOT, 'test', 'fixtures', 'plugins', 'batcher.ts');

/**
 * What the batcher wrote: one JSON line per event, {"log":"<seq> <line>"}.
 * Counts every line, and checks that each seq in [0, expected) is there
 * exactly once, streaming the file (it can be several hundred MiB).
 */
function checkDelivered(file: string, expected: number): { lines: number; unique: number; missing: number; duplicates: number; unparsed: number; firstMissing: number[] } {
  const seen = new Uint8Array(expected);
  let lines = 0;
  let duplicates = 0;
  let unparsed = 0;
  const prefix = '{"log":"';
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let rest = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString('latin1', 0, n);
      let start = 0;
      let nl: number;
      while ((nl = text.indexOf('\n', start)) >= 0) {
        lines++;
        let seq = -1;
        if (text.startsWith(prefix, start)) {
          const space = text.indexOf(' ', start + prefix.length);
          if (space > 0 && space < nl) {
            const v = Number(text.slice(start + prefix.length, space));
            if (Number.isSafeInteger(v)) seq = v;
          }
        }
        if (seq < 0 || seq >= expected) unparsed++;
        else if (seen[seq]) duplicates++;
        else seen[seq] = 1;
        start = nl + 1;
      }
      rest = text.slice(start);
    }
    if (rest.length) {
      lines++;
      unparsed++; // a half-written last line
    }
  } finally {
    closeSync(fd);
  }
  let unique = 0;
  const firstMissing: number[] = [];
  for (let i = 0; i < expected; i++) {
    if (seen[i]) unique++;
    else if (firstMissing.length < 10) firstMissing.push(i);
  }
  return { lines, unique, missing: expected - unique, duplicates, unparsed, firstMissing };
}

/** One reload as the bench saw it, before the host's log is read. */
interface ReloadSample {
  id: number;
  inFlight: number;
  pending: number;
  inputPaused: boolean | undefined;
  /** Lines appended and not yet read by the tail input. */
  tailBehind: number;
  /** The plugin process being replaced. */
  pidBefore: number;
  /** Date.now() just before SIGHUP, to compare with the host's log times and probe records (same clock). */
  sighupAt: number;
  /** Date.now() when the bench sent the first request that found the new plugin in GET /api/v1/plugins: the old one's drain starts then. */
  drainStartAt: number;
  visibleMs: number;
  last: any;
}

/** The per-reload table; in flight, held, input paused and tail behind are sampled just before the SIGHUP. */
const RELOAD_COLUMNS: Column[] = [
  { key: 'reload', header: 'reload', format: String },
  { key: 'inFlight', header: 'in flight before', format: int },
  { key: 'pending', header: 'held before', format: int },
  { key: 'inputPaused', header: 'input paused', format: String },
  { key: 'tailBehind', header: 'tail behind (lines)', format: int },
  { key: 'startMs', header: 'SIGHUP→reload start ms', format: int },
  { key: 'drainStartMs', header: 'SIGHUP→drain start ms', format: int },
  { key: 'drainMs', header: 'drain ms (to old plugin exited)', format: int },
  { key: 'readyMs', header: 'SIGHUP→new plugin ready ms', format: int },
  { key: 'durationMs', header: 'duration_ms', format: int },
  { key: 'visibleMs', header: 'SIGHUP→visible ms', format: int },
  { key: 'drained', header: 'drained chunks', format: int },
  { key: 'handedOver', header: 'handed over', format: int },
  { key: 'killed', header: 'killed', format: String },
];

/**
 * tail of a file the bench keeps appending to → the batcher test plugin
 * (answers a chunk only when its batch is written: after linger 10 s, or on
 * Drain), workers 8. Each reload changes the output's label, so the output
 * is "changed" and its plugin is replaced: the new one is started, the old
 * one drained with acknowledgement and stopped, its undelivered chunks
 * handed over, and only then is the new one configured for real.
 */
export function reloadUnderLoad(): Scenario {
  return {
    name: 'reload',
    description: 'hot reload under load: tail of a file appended to at --rate lines/s → batcher test plugin (linger 10 s, workers 8); --reloads SIGHUPs, each changing the output\'s label so its plugin is replaced',
    columns: [
      { key: 'run', header: 'run', format: String },
      { key: 'reloads', header: 'reloads', format: int },
      { key: 'appended', header: 'lines appended', format: int },
      { key: 'appendRate', header: 'lines/s appended', format: int },
      { key: 'visibleP50Ms', header: 'SIGHUP→visible p50 ms', format: int },
      { key: 'visibleP99Ms', header: 'SIGHUP→visible p99 ms', format: int },
      { key: 'drainP50Ms', header: 'drain p50 ms', format: int },
      { key: 'drainP99Ms', header: 'drain p99 ms', format: int },
      { key: 'durationP50Ms', header: 'duration_ms p50', format: int },
      { key: 'durationP99Ms', header: 'duration_ms p99', format: int },
      { key: 'medianInFlight', header: 'median in flight', format: fixed(1) },
      { key: 'drainedTotal', header: 'drained chunks', format: int },
      { key: 'handedOverTotal', header: 'handed over', format: int },
      { key: 'killed', header: 'killed', format: int },
      { key: 'catchUpS', header: 'catch-up s', format: fixed(1) },
      { key: 'cpuS', header: 'CPU s', format: fixed(1) },
      { key: 'hostCpuS', header: 'host CPU s', format: fixed(1) },
      { key: 'pluginCpuS', header: 'plugin CPU s (all)', format: fixed(1), note: (r) => (r.pluginCpuFrom === 'probe' ? undefined : PLUGIN_CPU_DERIVED) },
      { key: 'hostRssMiB', header: 'host peak RSS MiB', format: fixed(0) },
      { key: 'pluginRssMiB', header: 'plugin peak RSS MiB (largest)', format: fixed(0) },
      { key: 'delivered', header: 'delivered (plugin)', format: int },
    ],
    compare: ['visibleP50Ms', 'visibleP99Ms', 'drainP50Ms', 'drainP99Ms', 'hostCpuS', 'pluginCpuS', 'hostRssMiB', 'pluginRssMiB'],
    async setup(opts) {
      // Real-looking lines: the cached bench data, each prefixed with its
      // sequence number so that every appended line can be found in the output.
      const pool = readFileSync(logFile(100_000), 'latin1').split('\n').filter(Boolean);
      return async (index) => {
        const work = mkdtempSync(join(tmpdir(), 'sluice-bench-reload-'));
        const input = join(work, 'in.log');
        const out = join(work, 'out.jsonl');
        writeFileSync(input, '');
        const config = (label: string, linger: string) => [
          '# Written by bench/run.ts (scenario reload).',
          'service:',
          // debug, for the "plugin ready" lines. In the file, not only with
          // --log-level: a reload sets the level from the file and drops the flag's.
          '  log_level: debug',
          '  flush: 0.2',
          '  grace: 60',
          '  http_server: on',
          '  http_port: 0',
          '  reload.drain_timeout: 30',
          'plugins:',
          '  batcher:',
          `    command: [${JSON.stringify(BATCHER)}]`,
          'pipeline:',
          '  inputs:',
          '    - name: tail',
          `      path: ${JSON.stringify(input)}`,
          '      tag: bench',
          '      read_from_head: true',
          '  outputs:',
          '    - name: batcher',
          '      alias: batch',
          "      match: '*'",
          '      workers: 8',
          `      path: ${JSON.stringify(out)}`,
          `      linger: ${linger}`,
          `      label: ${JSON.stringify(label)}`,
          ...commonOutputKeys(opts),
          '',
        ].join('\n');

        const samples: ReloadSample[] = [];
        let appended = 0;
        let appendS = 0;
        let catchUpS = Number.NaN;
        let catchUp: any;
        try {
          const run = await runHost(config('gen-0', '10'), opts, async (host) => {
            const listening = await host.waitForLog((l) => l.msg === 'HTTP API listening', '"HTTP API listening"', 30_000);
            const port = Number(listening.port);
            await host.waitForLog((l) => l.msg === 'sluice started', '"sluice started"', 30_000);

            // The appender: every 10 ms, the lines due at --rate since it began.
            const fd = openSync(input, 'a');
            const t0 = performance.now();
            let appendError: unknown;
            const append = () => {
              try {
                const due = Math.floor((opts.rate * (performance.now() - t0)) / 1000);
                const n = Math.min(due - appended, Math.max(1000, opts.rate)); // at most 1 s of lines per write
                if (n <= 0) return;
                let s = '';
                for (let i = appended; i < appended + n; i++) s += `${i} ${pool[i % pool.length]}\n`;
                const buf = Buffer.from(s, 'latin1');
                let off = 0;
                while (off < buf.length) off += writeSync(fd, buf, off);
                appended += n;
              } catch (err) {
                appendError ??= err;
              }
            };
            const appender = setInterval(append, 10);
            const stopAppending = () => {
              if (!appendS) {
                clearInterval(appender);
                append();
                closeSync(fd);
                appendS = (performance.now() - t0) / 1000;
              }
            };
            try {
              for (let r = 1; r <= opts.reloads; r++) {
                host.note = `reload ${r}/${opts.reloads}, ${appended.toLocaleString('en')} lines appended`;
                await sleep(opts.interval * 1000);
                if (appendError) throw appendError;
                writeFileSync(host.configFile, config(`gen-${r}`, '10'));
                const [plugins, storage, prom] = await Promise.all([getJson(port, '/api/v1/plugins'), getJson(port, '/api/v1/storage'), scrape(port)]);
                const p = (plugins.plugins as any[]).find((x) => x.output === 'batch');
                const read = promValue(prom, 'sluice_input_records_total', { name: 'tail.0' });
                const sighupAt = Date.now();
                const t = performance.now();
                process.kill(host.pid, 'SIGHUP');
                // The reload's state, and the plugins list: the new instance
                // replaces the old one there just before the old one's drain.
                let state: any;
                let drainStartAt = Number.NaN;
                for (;;) {
                  const sentAt = Date.now();
                  const [s, now] = await Promise.all([getJson(port, '/api/v2/reload'), getJson(port, '/api/v1/plugins')]);
                  state = s;
                  const pid = (now.plugins as any[]).find((x) => x.output === 'batch')?.pid;
                  if (Number.isNaN(drainStartAt) && typeof pid === 'number' && pid !== p?.pid) drainStartAt = sentAt;
                  if (state.hot_reload_count >= r) break;
                  if (performance.now() - t > 120_000) throw new BenchError(`reload ${r}: hot_reload_count still ${state.hot_reload_count} 120 s after SIGHUP`);
                  await sleep(5);
                }
                const visibleMs = performance.now() - t;
                if (state.hot_reload_count !== r || state.last?.id !== r) throw new BenchError(`reload ${r}: expected hot_reload_count ${r}, got ${state.hot_reload_count} (last.id ${state.last?.id})`);
                samples.push({
                  id: r, inFlight: p?.in_flight ?? Number.NaN, pending: p?.pending ?? Number.NaN, pidBefore: p?.pid ?? Number.NaN,
                  inputPaused: storage?.input_chunks?.['tail.0']?.paused, tailBehind: appended - read, sighupAt, drainStartAt, visibleMs, last: state.last,
                });
              }
              stopAppending();
              if (appendError) throw appendError;

              // Catch-up, not measured: a last reload makes the batcher write
              // every 50 ms, so the backlog (the tail is behind, held back by
              // mem_buf_limit) is delivered at the plugin's speed.
              host.note = `catching up: ${appended.toLocaleString('en')} lines to deliver`;
              const tc = performance.now();
              writeFileSync(host.configFile, config('catch-up', '50ms'));
              catchUp = await getJson(port, '/api/v2/reload?wait=true', { method: 'POST' });
              let last = -1;
              let lastChange = performance.now();
              for (;;) {
                const delivered = promValue(await scrape(port), 'sluice_output_proc_records_total', { name: 'batch' });
                host.note = `catching up: ${(delivered || 0).toLocaleString('en')} of ${appended.toLocaleString('en')} lines delivered`;
                if (delivered >= appended) break;
                if (delivered !== last) {
                  last = delivered;
                  lastChange = performance.now();
                } else if (performance.now() - lastChange > 60_000) {
                  throw new BenchError(`catch-up: no progress for 60 s at ${delivered} of ${appended} lines delivered`);
                }
                await sleep(250);
              }
              catchUpS = (performance.now() - tc) / 1000;
              await host.stop();
            } finally {
              stopAppending();
            }
          }, 'debug');

          checkExit(run);
          reportComplaints(run);
          // The plugin processes of every generation must be gone.
          const pids = new Set<number>();
          for (const s of samples) for (const k of ['pid_before', 'pid_after'] as const) if (typeof s.last.outputs?.batch?.[k] === 'number') pids.add(s.last.outputs.batch[k]);
          const alive = [...pids].filter((p) => existsSync(`/proc/${p}`));
          if (alive.length) progress(`plugin pid(s) ${alive.join(', ')} outlived the host: their CPU is not in the total`);

          const at = (msg: string, reload: number) => run.logs.find((l) => l.msg === msg && l.reload === reload)?.time ?? Number.NaN;
          const exitedAt = (pid: number) => run.probes.find((p) => p.pid === pid)?.exitedAt ?? Number.NaN;
          const rows: Row[] = samples.map((s) => {
            const o = s.last.outputs?.batch ?? {};
            const readyAt = run.logs.find((l) => l.msg === 'plugin ready' && l.plugin_pid === o.pid_after)?.time ?? Number.NaN;
            return {
              reload: s.id,
              inFlight: s.inFlight,
              pending: s.pending,
              inputPaused: s.inputPaused === undefined ? '–' : s.inputPaused ? 'yes' : 'no',
              tailBehind: s.tailBehind,
              startMs: at('reload: loading the new config', s.id) - s.sighupAt,
              drainStartMs: s.drainStartAt - s.sighupAt,
              drainMs: exitedAt(s.pidBefore) - s.drainStartAt,
              readyMs: readyAt - s.sighupAt,
              durationMs: s.last.duration_ms,
              visibleMs: s.visibleMs,
              drained: o.drained_chunks ?? Number.NaN,
              handedOver: o.handed_over_chunks ?? Number.NaN,
              killed: o.killed === undefined ? '–' : String(o.killed),
            };
          });
          process.stdout.write(`\n#### reload run ${index + 1}: one row per reload\n\n${table(RELOAD_COLUMNS, rows, false)}\n`);

          const check = checkDelivered(out, appended);
          const problems: string[] = [];
          for (const s of samples) {
            const o = s.last.outputs?.batch;
            if (s.last.status !== 'ok') problems.push(`reload ${s.id}: status ${s.last.status}: ${JSON.stringify(s.last.errors)}`);
            if (o?.action !== 'changed') problems.push(`reload ${s.id}: the output's action is ${JSON.stringify(o?.action)}, not "changed"`);
            if (o?.killed !== false) problems.push(`reload ${s.id}: killed is ${JSON.stringify(o?.killed)}`);
          }
          if (catchUp?.status !== 'ok' || catchUp?.outputs?.batch?.killed !== false) problems.push(`the catch-up reload: ${JSON.stringify(catchUp)}`);
          const reported = hostDelivered(run).batch;
          if (reported !== appended) problems.push(`the host reported ${JSON.stringify(reported)} delivered at exit, expected ${appended}`);
          if (check.missing || check.duplicates || check.unparsed || check.lines !== appended) {
            problems.push(`the output file has ${check.lines} lines for ${appended} appended: ${check.missing} missing (first: ${check.firstMissing.join(', ')}), ${check.duplicates} duplicated, ${check.unparsed} not from the bench`);
          }
          if (problems.length) throw new BenchError(`reload run ${index + 1} failed:\n  ${problems.join('\n  ')}`);

          const num = (k: string) => rows.map((r) => r[k] as number);
          const cpu = splitCpu(run);
          return {
            run: index + 1,
            reloads: samples.length,
            appended,
            appendRate: appended / appendS,
            visibleP50Ms: percentile(num('visibleMs'), 50),
            visibleP99Ms: percentile(num('visibleMs'), 99),
            drainP50Ms: percentile(num('drainMs'), 50),
            drainP99Ms: percentile(num('drainMs'), 99),
            durationP50Ms: percentile(num('durationMs'), 50),
            durationP99Ms: percentile(num('durationMs'), 99),
            medianInFlight: percentile(num('inFlight'), 50),
            drainedTotal: num('drained').reduce((a, b) => a + b, 0),
            handedOverTotal: num('handedOver').reduce((a, b) => a + b, 0),
            killed: rows.filter((r) => r.killed !== 'false').length,
            catchUpS,
            ...cpu,
            delivered: check.lines,
          };
        } finally {
          if (opts.keep) progress(`kept ${work} (tailed file and output)`);
          else rmSync(work, { recursive: true, force: true });
        }
      };
    },
  };
}
