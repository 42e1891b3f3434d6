// Running the real host once for a benchmark: `sluice run -c <config>` on
// this Node, driven by the scenario while it runs, and what it cost.
//
// CPU: the host waits for its plugins, so the bench's own cutime+cstime
// (/proc/self/stat) grows by exactly the CPU of the host and every plugin
// once the host is reaped (total). bench/cpu-probe.mjs, preloaded into every
// Node process through NODE_OPTIONS (plugins inherit the host's
// environment), reports each one's own CPU and peak RSS at exit. A plugin
// with no record (not Node: Go; or killed) gets total − the Node processes'
// records, and its peak RSS is read from /proc (VmHWM) just before the bench
// stops the host.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BenchError, progress, sleep, status, statusDone, type Options } from './common.ts';

/** What bench/cpu-probe.mjs writes for each Node process at its exit. */
export interface ProbeRecord {
  pid: number;
  ppid: number;
  /** 'host' for sluice itself, 'plugin' for anything else (a plugin the host started). */
  role: 'host' | 'plugin';
  /** The bundled plugin's directory name (plugins/<name>/main.ts), else the script's name without extension. */
  name: string;
  /** What Node ran after its own flags (argv[1] on). */
  argv: string[];
  userS: number;
  sysS: number;
  /** userS + sysS: this process, all its threads. */
  cpuS: number;
  maxRssMiB: number;
  /** Date.now() at start (from process.uptime()) and at exit. */
  startedAt: number;
  exitedAt: number;
}

export const ROOT = resolve(import.meta.dirname, '..');
const SOURCE_CLI = join(ROOT, 'host', 'cli', 'main.ts');
const BUILT_CLI = join(ROOT, 'dist', 'host', 'cli', 'main.js');

/**
 * Builds dist/ as npm pack does: users run the compiled JavaScript, and
 * stripping types at every start costs each process ~0.15 CPU-s.
 */
export function buildHost(): void {
  progress('building dist/ (node scripts/build.ts), the JavaScript npm pack ships…');
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
}
const PROBE = join(import.meta.dirname, 'cpu-probe.mjs');

const CLK_TCK = (() => {
  const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU seconds of every child (and their waited-for descendants) this process has reaped. */
export function childrenCpuS(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Field 2 (comm) is in parentheses and may contain spaces: split after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) / CLK_TCK;
}

/** Peak RSS of a live process (VmHWM), MiB; NaN once it is gone. */
function peakRssMiB(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface LogLine {
  level?: number;
  time?: number;
  msg?: string;
  [k: string]: unknown;
}

export interface HostRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to exit of the host, seconds. */
  exitS: number;
  /** CPU of the host and every process it waited for, seconds. */
  cpuS: number;
  /** What each Node process of the run reported at exit (host, Node plugins). */
  probes: ProbeRecord[];
  hostPid: number;
  /** Every plugin pid the host named (sluice started, plugin_pid, reload results). */
  pluginPids: number[];
  /** VmHWM of the plugins alive when stop() was called, MiB by pid. */
  procPeaks: Map<number, number>;
  logs: LogLine[];
  /** stderr lines that are not JSON. */
  otherStderr: string[];
  /** Plugin pids still alive when the host exited: their CPU is missing. */
  survivors: number[];
}

/** The host while it runs, for the scenario that drives it. */
export interface LiveHost {
  pid: number;
  /** performance.now() at spawn. */
  t0: number;
  /** The config file the host was started with; a reload reads it again. */
  configFile: string;
  /** Every JSON log line so far. */
  logs: LogLine[];
  /** Resolves with the first log line, already seen or to come, that matches; rejects if the host exits first. */
  waitForLog(match: (l: LogLine) => boolean, what: string, timeoutMs: number): Promise<LogLine>;
  /** Samples the plugins' peak RSS, sends SIGTERM, and resolves when the host has exited. */
  stop(): Promise<void>;
  /** Resolves when the host has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Shown after "running… N s" on a terminal. */
  note: string;
}

function pluginPidsIn(logs: LogLine[]): number[] {
  const pids = new Set<number>();
  const add = (p: unknown) => typeof p === 'number' && pids.add(p);
  for (const l of logs) {
    add(l.plugin_pid);
    if (l.msg === 'sluice started' && Array.isArray(l.outputs)) for (const o of l.outputs as { pid?: unknown }[]) add(o.pid);
    if (l.msg === 'reload done' && l.outputs && typeof l.outputs === 'object') {
      for (const o of Object.values(l.outputs as { [k: string]: { pid_before?: unknown; pid_after?: unknown } })) {
        add(o.pid_before);
        add(o.pid_after);
      }
    }
  }
  return [...pids];
}

/**
 * Runs `sluice run -c <config>` once with `config` as the file's text, and
 * `drive` while it runs; drive ends by stopping the host (host.stop()). If
 * drive throws, the host gets SIGTERM (SIGKILL 30 s later), and runHost
 * throws its error, with the host's last log lines, once the host has exited.
 */
export async function runHost(config: string, opts: Options, drive: (host: LiveHost) => Promise<void>, logLevel = 'info'): Promise<HostRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const probeDir = join(dir, 'probes');
  mkdirSync(probeDir);
  const configFile = join(dir, 'sluice.yaml');
  writeFileSync(configFile, config);

  const nodeOptions = [process.env.NODE_OPTIONS, `--import=${PROBE}`].filter(Boolean).join(' ');
  const cpuBefore = childrenCpuS();
  const t0 = performance.now();
  const child = spawn(process.execPath, [opts.source ? SOURCE_CLI : BUILT_CLI, 'run', '-c', configFile, '--log-level', logLevel], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: nodeOptions, SLUICE_BENCH_PROBE_DIR: probeDir },
  });
  const logs: LogLine[] = [];
  const otherStderr: string[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    pending += s;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.trim()) continue;
      if (opts.verbose) process.stderr.write(`host: ${line}\n`);
      let parsed: unknown;
      try {
        parsed = line.startsWith('{') ? JSON.parse(line) : undefined;
      } catch {
        parsed = undefined;
      }
      if (parsed && typeof parsed === 'object') {
        const l = parsed as LogLine;
        logs.push(l);
        for (const w of waiters) {
          if (w.match(l)) {
            waiters.delete(w);
            w.resolve(l);
          }
        }
      } else if (otherStderr.length < 200) otherStderr.push(line);
    }
  });
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; exitS: number; cpuS: number }>((res, rej) => {
    child.on('error', rej);
    child.on('exit', (code, signal) => {
      exited = true;
      res({ code, signal, exitS: (performance.now() - t0) / 1000, cpuS: childrenCpuS() - cpuBefore });
    });
  });
  const procPeaks = new Map<number, number>();
  const live: LiveHost = {
    pid: child.pid!,
    t0,
    configFile,
    logs,
    note: '',
    exit: exit.then(({ code, signal }) => ({ code, signal })),
    waitForLog(match, what, timeoutMs) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const w = { match, resolve: (l: LogLine) => { clearTimeout(t); resolve(l); } };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new BenchError(`timed out after ${timeoutMs / 1000} s waiting for the host to log ${what}`));
        }, timeoutMs);
        waiters.add(w);
        void exit.then(() => {
          if (!waiters.delete(w)) return;
          clearTimeout(t);
          reject(new BenchError(`the host exited before it logged ${what}`));
        });
      });
    },
    async stop() {
      for (const pid of pluginPidsIn(logs)) {
        const mib = peakRssMiB(pid);
        if (Number.isFinite(mib)) procPeaks.set(pid, mib);
      }
      if (!exited) child.kill('SIGTERM');
      await exit;
    },
  };
  const timer = setInterval(() => status(`running… ${((performance.now() - t0) / 1000).toFixed(0)} s${live.note ? ` (${live.note})` : ''}`), 1000);
  let driveError: unknown;
  let exitedFirst = false;
  const driving = drive(live).catch((err) => {
    driveError = err;
    exitedFirst = exited;
    if (exited) return;
    child.kill('SIGTERM');
    const k = setTimeout(() => child.kill('SIGKILL'), 30_000);
    void exit.then(() => clearTimeout(k));
  });
  const { code, signal, exitS, cpuS } = await exit;
  await driving;
  // 'close' also waits for the stderr pipe, so every log line is in.
  if (child.stderr.readableEnded === false) await new Promise((r) => child.stderr.once('close', r));
  clearInterval(timer);
  statusDone();
  if (pending.trim()) otherStderr.push(pending);

  const probes: ProbeRecord[] = [];
  for (const f of readdirSync(probeDir)) {
    try {
      probes.push(JSON.parse(readFileSync(join(probeDir, f), 'utf8')) as ProbeRecord);
    } catch {
      // a half-written record: the process died while writing it
    }
  }
  if (opts.keep) progress(`kept ${dir} (config, probe records)`);
  else rmSync(dir, { recursive: true, force: true });
  if (driveError) {
    const last = [...logs.slice(-10).map((l) => JSON.stringify(l)), ...otherStderr.slice(-10)];
    const msg = driveError instanceof Error ? driveError.message : String(driveError);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const what = exitedFirst ? `the host exited with ${how} before the run was done (${msg})` : `${msg}\nthe host then exited with ${how}`;
    throw new BenchError(`${what}; its last stderr lines:\n  ${last.join('\n  ')}`);
  }
  const pluginPids = pluginPidsIn(logs);
  return {
    exitCode: code, signal, exitS, cpuS, probes, hostPid: child.pid!, pluginPids, procPeaks, logs, otherStderr,
    survivors: pluginPids.filter((p) => existsSync(`/proc/${p}`)),
  };
}

/** Fails the bench with the host's last words if it did not exit cleanly. */
export function checkExit(run: HostRun): void {
  if (run.exitCode === 0) return;
  const last = [...run.logs.slice(-10).map((l) => JSON.stringify(l)), ...run.otherStderr.slice(-10)];
  throw new BenchError(`the host exited with ${run.signal ? `signal ${run.signal}` : `code ${run.exitCode}`}; its last stderr lines:\n  ${last.join('\n  ')}`);
}

/** Prints the warnings and errors the host (or a plugin through it) logged, and plugins that outlived it. */
export function reportComplaints(run: HostRun): void {
  for (const l of run.logs) if ((l.level ?? 0) >= 40) progress(`host said: ${JSON.stringify(l)}`);
  for (const l of run.otherStderr) progress(`host said: ${l}`);
  if (run.survivors.length) progress(`plugin pid(s) ${run.survivors.join(', ')} outlived the host: their CPU is not in the total`);
}

/** The host's count of delivered events per output, from its `sluice stopped` line. */
export function hostDelivered(run: HostRun): { [output: string]: unknown } {
  const stopped = run.logs.find((l) => l.msg === 'sluice stopped');
  const delivered = stopped?.delivered;
  if (!delivered || typeof delivered !== 'object') throw new BenchError('the host did not log "sluice stopped" with a delivered count');
  return delivered as { [output: string]: unknown };
}

export const PLUGIN_CPU_DERIVED = 'total CPU − the Node processes\' own (a plugin that is not Node, or that left no probe record)';
export const PLUGIN_RSS_PROC = 'VmHWM from /proc just before SIGTERM (a plugin that is not Node, or that left no probe record)';

/** Who used the CPU and memory: the columns every scenario shows. */
export interface CpuSplit {
  cpuS: number;
  hostCpuS: number;
  hostUserS: number;
  hostSysS: number;
  hostRssMiB: number;
  /** Every plugin process of the run together. */
  pluginCpuS: number;
  /** From the probe records; NaN when a plugin left none. */
  pluginUserS: number;
  pluginSysS: number;
  /** The largest plugin process. */
  pluginRssMiB: number;
  pluginCpuFrom: 'probe' | 'total-minus-node';
  pluginRssFrom: 'probe' | 'proc';
  /** total − every probe record: teardown after the records were written (only when every plugin left one). */
  otherCpuS: number;
  plugins: string;
}

export function splitCpu(run: HostRun): CpuSplit {
  const host = run.probes.find((p) => p.pid === run.hostPid);
  if (!host) throw new BenchError(`the host (pid ${run.hostPid}) left no probe record: was bench/cpu-probe.mjs preloaded (NODE_OPTIONS)?`);
  const nodePlugins = run.probes.filter((p) => p.pid !== run.hostPid);
  const probed = new Set(nodePlugins.map((p) => p.pid));
  const unprobed = run.pluginPids.filter((p) => !probed.has(p));
  const nodeCpuS = run.probes.reduce((a, p) => a + p.cpuS, 0);
  const rss = [...nodePlugins.map((p) => p.maxRssMiB), ...unprobed.map((p) => run.procPeaks.get(p) ?? Number.NaN)];
  return {
    cpuS: run.cpuS,
    hostCpuS: host.cpuS,
    hostUserS: host.userS,
    hostSysS: host.sysS,
    hostRssMiB: host.maxRssMiB,
    pluginCpuS: unprobed.length ? run.cpuS - host.cpuS : nodeCpuS - host.cpuS,
    pluginUserS: unprobed.length ? Number.NaN : nodePlugins.reduce((a, p) => a + p.userS, 0),
    pluginSysS: unprobed.length ? Number.NaN : nodePlugins.reduce((a, p) => a + p.sysS, 0),
    pluginRssMiB: rss.length ? Math.max(...rss) : Number.NaN,
    pluginCpuFrom: unprobed.length ? 'total-minus-node' : 'probe',
    pluginRssFrom: unprobed.length ? 'proc' : 'probe',
    otherCpuS: unprobed.length ? Number.NaN : run.cpuS - nodeCpuS,
    plugins: [
      ...nodePlugins.map((p) => `${p.name}[${p.pid}] ${p.cpuS.toFixed(2)} CPU-s ${p.maxRssMiB.toFixed(0)} MiB`),
      ...unprobed.map((p) => `[${p}] (no probe record)`),
    ].join(', '),
  };
}

// ---------------------------------------------------------------- the HTTP API

export async function getJson(port: number, path: string, init?: RequestInit): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const body = await res.text();
  try {
    return JSON.parse(body);
  } catch {
    throw new BenchError(`${path} answered ${res.status} with something that is not JSON: ${body.slice(0, 200)}`);
  }
}

export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/api/v1/metrics/prometheus`)).text();
}

/** One sample of a Prometheus series (the first whose labels include `labels`); NaN if absent. */
export function promValue(text: string, name: string, labels: { [k: string]: string } = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const ls = open >= 0 && open < close ? line.slice(open + 1, close) : '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) return Number(line.slice((close >= 0 ? close : name.length) + 1).trim());
  }
  return Number.NaN;
}

/** The config lines that turn the HTTP API on, on a port the bench reads from the log. */
export const HTTP_API = ['  http_server: on', '  http_port: 0'];

export async function apiPort(host: LiveHost): Promise<number> {
  const l = await host.waitForLog((x) => x.msg === 'HTTP API listening', '"HTTP API listening"', 120_000);
  return Number(l.port);
}

/** How often the bench asks the host whether everything was delivered. */
export const POLL_MS = 50;
/** A run fails when neither count moved for this long. */
const STALL_MS = 60_000;

export interface Delivery {
  /**
   * performance.now() of the first poll at which the input had read every
   * event and the output had no chunk pending: the end of the work. Only
   * the open chunk is left then, and it waits for the flush timer
   * (service.flush), which is not the pipeline's speed.
   */
  at: number;
  /** performance.now() when the plugin reported every event delivered (or the host, without a plugin metric). */
  deliveredAt: number;
  /** What the plugin reported (its metric) at deliveredAt; NaN without one. */
  plugin: number;
  /** sluice_output_proc_records_total at deliveredAt. */
  host: number;
  scrapes: number;
}

/**
 * Polls the Prometheus metrics every POLL_MS until the plugin's own counter
 * (`pluginMetric`, as sluice_plugin_<name>) has reached `expected`, or,
 * without one, the host's delivered count has. Fails on a count above
 * `expected` and when nothing moved for STALL_MS.
 */
export async function awaitDelivered(host: LiveHost, port: number, expected: number, pluginMetric: string | undefined): Promise<Delivery> {
  let last = '';
  let lastChange = performance.now();
  let doneAt: number | undefined;
  for (let scrapes = 1; ; scrapes++) {
    const text = await scrape(port);
    const at = performance.now();
    const read = promValue(text, 'sluice_input_records_total') || 0;
    const pending = promValue(text, 'sluice_output_pending_chunks');
    const hostCount = promValue(text, 'sluice_output_proc_records_total') || 0;
    const pluginCount = pluginMetric ? promValue(text, pluginMetric) || 0 : Number.NaN;
    const count = pluginMetric ? pluginCount : hostCount;
    if (doneAt === undefined && read >= expected && pending === 0) doneAt = at;
    host.note = `${count.toLocaleString('en')} of ${expected.toLocaleString('en')} delivered`;
    if (count > expected) throw new BenchError(`${pluginMetric ?? 'the host'} reports ${count} events delivered for ${expected} sent`);
    if (count === expected) return { at: doneAt ?? at, deliveredAt: at, plugin: pluginCount, host: hostCount, scrapes };
    const now = `${read}/${hostCount}/${pluginCount}`;
    if (now !== last) {
      last = now;
      lastChange = at;
    } else if (at - lastChange > STALL_MS) {
      throw new BenchError(`no progress for ${STALL_MS / 1000} s: the input has read ${read}, the host has delivered ${hostCount}, ${pluginMetric ?? 'the plugin'} reports ${pluginCount}, of ${expected}`);
    }
    await sleep(POLL_MS);
  }
}
