#!/usr/bin/env node
// sluice benchmarks: `npm run bench -- [--scenario NAME|all] [--lines N] [--runs N]`.
//
// Each scenario spawns the real host (`sluice run -c <temp config>`) on this
// Node, waits for it to exit and measures wall time and CPU. CPU counts the
// host and every plugin process: the host waits for its plugins, so the
// bench's own cutime+cstime (/proc/self/stat) grows by exactly the CPU of
// all waited-for descendants. bench/cpu-probe.ts, preloaded into each Node
// process, measures the host's own CPU; the plugins' share is the rest.
//
// To add a benchmark, add an entry to SCENARIOS below: setup() prepares
// data once and returns a function that performs one run and returns a row.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, watch, writeFileSync, writeSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { mockClusterBinary } from '../test/kafka/mock-binary.ts';
import { EventTime, ForwardClient, pack } from '../test/helpers/forward.ts';
import type { ProbeRecord } from './cpu-probe.ts';

const BENCH_DIR = import.meta.dirname;
const ROOT = resolve(BENCH_DIR, '..');
const DATA_DIR = join(BENCH_DIR, 'data');
const CLI = join(ROOT, 'host', 'cli', 'main.ts');
const PROBE = join(BENCH_DIR, 'cpu-probe.ts');

// ---------------------------------------------------------------- options

interface Options {
  lines: number;
  runs: number;
  keep: boolean;
  json: boolean;
  verbose: boolean;
  /** reload scenario: reloads per run. */
  reloads: number;
  /** reload scenario: lines appended per second. */
  rate: number;
  /** reload scenario: seconds between one reload's end and the next SIGHUP. */
  interval: number;
}

const USAGE = `Usage: npm run bench -- [options]

  --scenario NAME   scenario to run, or "all" (default: tail-null)
  --lines N         lines of input (default: 1000000; not used by reload)
  --runs N          runs per scenario; each is reported, then the best (default: 1)
  --reloads N       reload: reloads per run (default: 10)
  --rate N          reload: lines appended to the tailed file per second (default: 100000)
  --interval S      reload: seconds between a reload's end and the next SIGHUP (default: 2)
  --handover H      how outputs get chunks: auto (by reference when the plugin can) or bytes
                    (sets SLUICE_CHUNK_HANDOVER for the host; default: the environment's, else auto)
  --keep            keep each run's temp directories (config, probe records, storage.path)
  --json            also print the results as one JSON line on stdout
  --verbose         copy the host's stderr (its JSON log) to stderr
  --list            list the scenarios
  --help            print this help
`;

// ---------------------------------------------------------------- progress

const tty = process.stderr.isTTY;
function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}
/** A line that is overwritten in place on a terminal, and not printed otherwise. */
function status(msg: string): void {
  if (tty) process.stderr.write(`\r\x1b[Kbench: ${msg}`);
}
function statusDone(): void {
  if (tty) process.stderr.write('\r\x1b[K');
}

class BenchError extends Error {}

// ---------------------------------------------------------------- CPU accounting

const CLK_TCK = (() => {
  const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU seconds of every child (and their waited-for descendants) this process has reaped. */
function childrenCpuS(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Field 2 (comm) is in parentheses and may contain spaces: split after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const cutime = Number(fields[16 - 3]);
  const cstime = Number(fields[17 - 3]);
  return (cutime + cstime) / CLK_TCK;
}

// ---------------------------------------------------------------- test data

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bump when the line format changes, so cached files are regenerated. */
const DATA_VERSION = 1;
const BLOCK_BYTES = 4 * 1024 * 1024;

/**
 * A file of `lines` log lines of about 200 bytes each (179–219 characters
 * plus the newline, ASCII), the same bytes on every run and machine. Cached
 * in bench/data/ under a name that holds the line count.
 */
/** json: the same lines as JSON objects (time, level, service, pid, log), for a json parser. */
function logFile(lines: number, json = false): string {
  const file = join(DATA_DIR, `tail-v${DATA_VERSION}-${lines}${json ? '-json' : ''}.log`);
  if (existsSync(file)) return file;
  mkdirSync(DATA_DIR, { recursive: true });
  progress(`generating ${lines.toLocaleString('en')} lines into ${file}…`);
  const started = performance.now();
  const rand = prng(0x51c3);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += HEX[Math.floor(rand() * 16)];
    return s;
  };
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  try {
    let time = Date.UTC(2025, 0, 1);
    let block: string[] = [];
    let blockBytes = 0;
    const flush = () => {
      const buf = Buffer.from(block.join(''), 'latin1');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
      bytes += buf.length;
      block = [];
      blockBytes = 0;
    };
    for (let i = 0; i < lines; i++) {
      time += Math.floor(rand() * 20);
      const r = rand();
      const level = r < 0.8 ? 'INFO ' : r < 0.9 ? 'DEBUG' : r < 0.97 ? 'WARN ' : 'ERROR';
      const code = level === 'ERROR' ? pick(['500', '502', '503']) : level === 'WARN ' ? pick(['404', '409', '429']) : pick(['200', '200', '200', '201', '204']);
      const service = pick(SERVICES);
      const pid = 1000 + Math.floor(rand() * 9000);
      const head = `${new Date(time).toISOString()} ${level} ${service}[${pid}]: `;
      let line =
        head +
        `request_id=${hex(16)} method=${pick(METHODS)} path=${pick(PATHS)}/${Math.floor(rand() * 100000)} ` +
        `status=${code} bytes=${Math.floor(rand() * 20000)} duration_ms=${(rand() * 500).toFixed(3)} msg="`;
      const length = 179 + Math.floor(rand() * 41) - 1; // without the closing quote
      while (line.length < length) line += pick(WORDS) + ' ';
      line = json
        ? `${JSON.stringify({ time: new Date(time).toISOString(), level: level.trim(), service, pid, log: `${line.slice(head.length, length)}"` })}\n`
        : `${line.slice(0, length)}"\n`;
      block.push(line);
      blockBytes += line.length;
      if (blockBytes >= BLOCK_BYTES) {
        flush();
        status(`generating… ${Math.round((100 * (i + 1)) / lines)}%`);
      }
    }
    if (block.length) flush();
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  statusDone();
  progress(`generated ${(bytes / 2 ** 20).toFixed(1)} MiB (${(bytes / lines).toFixed(1)} bytes/line) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return file;
}

const HEX = '0123456789abcdef';
const SERVICES = ['checkout-api', 'auth', 'inventory', 'payments', 'search', 'gateway', 'notifier', 'billing-worker'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const PATHS = ['/api/v1/orders', '/api/v1/users', '/api/v2/items', '/api/v1/cart', '/healthz', '/api/v1/search', '/api/v1/invoices'];
const WORDS = ['request', 'completed', 'upstream', 'cache', 'miss', 'hit', 'retrying', 'connection', 'reset', 'by', 'peer', 'order',
  'created', 'user', 'session', 'expired', 'token', 'refreshed', 'payment', 'authorized', 'declined', 'timeout', 'after', 'queue',
  'depth', 'is', 'high', 'slow', 'query', 'on', 'table', 'items', 'index', 'rebuilt', 'shard', 'rebalanced', 'worker', 'started'];

// ---------------------------------------------------------------- running the host

interface LogLine {
  level?: number;
  time?: number;
  msg?: string;
  [k: string]: unknown;
}

interface HostRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to exit of the host, seconds. */
  wallS: number;
  /** CPU of the host and every process it waited for, seconds. */
  cpuS: number;
  /** What each Node process of the run reported at exit (host, Node plugins). */
  probes: ProbeRecord[];
  hostPid: number;
  logs: LogLine[];
  /** stderr lines that are not JSON. */
  otherStderr: string[];
  /** Plugin pids (from "sluice started") still alive when the host exited: their CPU is missing. */
  survivors: number[];
  dir: string;
}

/** The host while it runs, for a scenario that drives it (signals, API calls). */
interface LiveHost {
  pid: number;
  /** The config file the host was started with; a reload reads it again. */
  configFile: string;
  /** The run's temp directory (removed after the run unless --keep). */
  dir: string;
  /** Every JSON log line so far. */
  logs: LogLine[];
  /** Resolves with the first log line, already seen or to come, that matches; rejects if the host exits first. */
  waitForLog(match: (l: LogLine) => boolean, what: string, timeoutMs: number): Promise<LogLine>;
  /** Resolves when the host has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Shown after "running… N s" on a terminal. */
  note: string;
}

interface RunHostExtra {
  /** --log-level for the host (default: info). */
  logLevel?: string;
  /**
   * Runs while the host runs. If it throws, the host gets SIGTERM (SIGKILL
   * 30 s later), and runHost throws its error once the host has exited.
   */
  drive?: (host: LiveHost) => Promise<void>;
}

/** Runs `sluice run -c <config>` once with `config` as the file's text. */
async function runHost(config: string, opts: Options, extra: RunHostExtra = {}): Promise<HostRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const probeDir = join(dir, 'probes');
  mkdirSync(probeDir);
  const configFile = join(dir, 'sluice.yaml');
  writeFileSync(configFile, config);

  const nodeOptions = [process.env.NODE_OPTIONS, `--import=${PROBE}`].filter(Boolean).join(' ');
  const cpuBefore = childrenCpuS();
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'run', '-c', configFile, '--log-level', extra.logLevel ?? 'info'], {
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
  let live: LiveHost | undefined;
  const timer = setInterval(() => status(`running… ${((performance.now() - t0) / 1000).toFixed(0)} s${live?.note ? ` (${live.note})` : ''}`), 1000);
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; wallS: number; cpuS: number; survivors: number[] }>(
    (res, rej) => {
      child.on('error', rej);
      child.on('exit', (code, signal) => {
        exited = true;
        const wallS = (performance.now() - t0) / 1000;
        const cpuS = childrenCpuS() - cpuBefore;
        const started = logs.find((l) => l.msg === 'sluice started');
        const pids = Array.isArray(started?.outputs) ? (started.outputs as { pid?: unknown }[]).map((o) => o.pid).filter((p): p is number => typeof p === 'number') : [];
        res({ code, signal, wallS, cpuS, survivors: pids.filter((p) => existsSync(`/proc/${p}`)) });
      });
    },
  );
  let driveError: unknown;
  let driving: Promise<void> = Promise.resolve();
  if (extra.drive) {
    live = {
      pid: child.pid!,
      configFile,
      dir,
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
    };
    driving = extra.drive(live).catch((err) => {
      driveError = err;
      if (exited) return;
      child.kill('SIGTERM');
      const k = setTimeout(() => child.kill('SIGKILL'), 30_000);
      void exit.then(() => clearTimeout(k));
    });
  }
  const { code, signal, wallS, cpuS, survivors } = await exit;
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
  if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  else if (extra.drive) progress(`kept ${dir}`);
  if (driveError) {
    const last = [...logs.slice(-10).map((l) => JSON.stringify(l)), ...otherStderr.slice(-10)];
    const msg = driveError instanceof Error ? driveError.message : String(driveError);
    throw new BenchError(`${msg}\nthe host then exited with ${signal ? `signal ${signal}` : `code ${code}`}; its last stderr lines:\n  ${last.join('\n  ')}`);
  }
  return { exitCode: code, signal, wallS, cpuS, probes, hostPid: child.pid!, logs, otherStderr, survivors, dir };
}

/** Fails the bench with the host's last words if it did not exit cleanly. */
function checkExit(run: HostRun): void {
  if (run.exitCode === 0) return;
  const last = [...run.logs.slice(-10).map((l) => JSON.stringify(l)), ...run.otherStderr.slice(-10)];
  throw new BenchError(`the host exited with ${run.signal ? `signal ${run.signal}` : `code ${run.exitCode}`}; its last stderr lines:\n  ${last.join('\n  ')}`);
}

/** Warnings and errors the host (or a plugin through it) logged, for the report. */
function complaints(run: HostRun): string[] {
  return [
    ...run.logs.filter((l) => (l.level ?? 0) >= 40).map((l) => JSON.stringify(l)),
    ...run.otherStderr,
  ];
}

// ---------------------------------------------------------------- scenarios

type Row = { [column: string]: number | string };

interface Column {
  key: string;
  header: string;
  format: (v: number | string) => string;
}

interface Scenario {
  name: string;
  description: string;
  columns: Column[];
  /** Which run is the best one. */
  bestBy: { key: string; higher: boolean };
  /** Prepares what every run shares (data files); returns one run. */
  setup(opts: Options): Promise<(index: number) => Promise<Row>>;
}

const int = (v: number | string) => (typeof v === 'number' ? Math.round(v).toLocaleString('en') : v);
const fixed = (digits: number) => (v: number | string) => (typeof v === 'number' ? v.toFixed(digits) : v);

/** Storage of the tail input in a tail-null scenario. */
type TailStorage = { type: 'memory' } | { type: 'filesystem'; sync: 'normal' | 'full' };

/** What a filesystem run left in storage.path. */
interface StorageCheck {
  /** *.chunk and *.chunk.tmp files still under storage.path after a clean exit. */
  chunkFilesLeft: string[];
  /** Everything else left (directories end in "/"). */
  otherLeft: string[];
}

function checkStorage(root: string): StorageCheck {
  const check: StorageCheck = { chunkFilesLeft: [], otherLeft: [] };
  const walk = (dir: string, rel: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const path = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        check.otherLeft.push(`${path}/`);
        walk(join(dir, d.name), path);
      } else if (d.name.endsWith('.chunk') || d.name.endsWith('.chunk.tmp')) {
        check.chunkFilesLeft.push(path);
      } else {
        check.otherLeft.push(`${path} (${statSync(join(dir, d.name)).size} B)`);
      }
    }
  };
  walk(root, '');
  return check;
}

/**
 * Counts the chunk files the host creates in `dir` (inotify through
 * fs.watch): each chunk has a unique id, and its file appears once by a
 * rename from *.chunk.tmp. Only the host writes there, so the count does not
 * depend on the host's logs or its delivery bookkeeping.
 */
function watchChunkFiles(dir: string): { stop(): number } {
  const seen = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (typeof name === 'string' && name.endsWith('.chunk')) seen.add(name);
  });
  return {
    stop() {
      watcher.close();
      return seen.size;
    },
  };
}

/** The output of a tail scenario: its config lines, and the plugins: entries it needs (made once, in setup). */
interface TailOutput {
  plugins?: () => string[];
  output: string[];
  /** Top-level sections before pipeline: (parsers:). */
  top?: string[];
  /** More keys of the tail input. */
  input?: string[];
  /** Tail the JSON form of the bench file. */
  json?: boolean;
}

const NULL_OUTPUT: TailOutput = { output: ["    - name: 'null'", "      match: '*'"] };

/** The bundled counter plugin (TypeScript SDK): decodes every event. */
const TS_DECODE_OUTPUT: TailOutput = { output: ['    - name: counter', "      match: '*'"] };

/**
 * bench/go/decode (Go SDK): decodes every event, the Go twin of counter.
 * Built once with scripts/go.sh (offline, Debian's Go packages).
 */
const GO_DECODE_OUTPUT: TailOutput = {
  plugins() {
    const bin = join(mkdtempSync(join(tmpdir(), 'sluice-bench-go-')), 'decode');
    progress('building bench/go/decode with scripts/go.sh');
    execFileSync(join(ROOT, 'scripts', 'go.sh'), ['build', '-o', bin, './bench/go/decode'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    return ['plugins:', '  godecode:', `    command: [${JSON.stringify(bin)}]`];
  },
  output: ['    - name: godecode', "      match: '*'"],
};

/**
 * tail a file from its head to EOF → an output (the bundled null one by
 * default), with the tail input's chunks in memory or (filesystem) also
 * written to files under a fresh storage.path per run, which is removed
 * after the run (unless --keep).
 */
function tailNull(name: string, description: string, storage: TailStorage, out: TailOutput = NULL_OUTPUT): Scenario {
  const fs = storage.type === 'filesystem';
  return {
    name,
    description,
    columns: [
      { key: 'run', header: 'run', format: String },
      { key: 'lines', header: 'lines', format: int },
      { key: 'wallS', header: 'wall s', format: fixed(2) },
      { key: 'linesPerS', header: 'lines/s', format: int },
      { key: 'cpuS', header: 'CPU s', format: fixed(2) },
      { key: 'linesPerCpuS', header: 'lines/CPU-s', format: int },
      { key: 'hostCpuS', header: 'host CPU s', format: fixed(2) },
      { key: 'pluginCpuS', header: 'plugin CPU s', format: fixed(2) },
      { key: 'hostRssMiB', header: 'host peak RSS MiB', format: fixed(0) },
      { key: 'pipelineS', header: 'started→stopped s', format: fixed(2) },
      ...(fs
        ? [
          { key: 'chunkFiles', header: 'chunk files written', format: int },
          { key: 'chunkFilesLeft', header: 'left after', format: int },
        ]
        : []),
    ],
    bestBy: { key: 'linesPerCpuS', higher: true },
    async setup(opts) {
      const file = logFile(opts.lines, out.json);
      const plugins = out.plugins?.() ?? [];
      const config = (storagePath: string | undefined) => [
        `# Written by bench/run.ts (scenario ${name}).`,
        'service:',
        '  log_level: info',
        ...(fs ? [`  storage.path: ${JSON.stringify(storagePath)}`, `  storage.sync: ${storage.sync}`] : []),
        ...plugins,
        ...(out.top ?? []),
        'pipeline:',
        '  inputs:',
        '    - name: tail',
        `      path: ${JSON.stringify(file)}`,
        '      tag: bench',
        '      read_from_head: true',
        '      exit_on_eof: true',
        ...(fs ? ['      storage.type: filesystem'] : []),
        ...(out.input ?? []),
        '  outputs:',
        ...out.output,
        '',
      ].join('\n');
      return async (index) => {
        const storagePath = fs ? mkdtempSync(join(tmpdir(), 'sluice-bench-storage-')) : undefined;
        // The input's chunk directory is storage.path/<instance>, and the
        // instance is tail.0 (the default alias); made here so it can be watched.
        const chunkDir = storagePath ? join(storagePath, 'tail.0') : undefined;
        if (chunkDir) mkdirSync(chunkDir);
        const watcher = chunkDir ? watchChunkFiles(chunkDir) : undefined;
        let run: HostRun;
        let check: StorageCheck | undefined;
        let chunkFiles: number | undefined;
        try {
          run = await runHost(config(storagePath), opts);
          // Let the watcher's last events (queued before the host exited) arrive.
          await new Promise((r) => setTimeout(r, 50));
          chunkFiles = watcher?.stop();
          checkExit(run);
          if (storagePath) check = checkStorage(storagePath);
        } finally {
          watcher?.stop();
          if (storagePath) {
            if (opts.keep) progress(`kept storage.path ${storagePath}`);
            else rmSync(storagePath, { recursive: true, force: true });
          }
        }
        const stopped = run.logs.find((l) => l.msg === 'sluice stopped');
        const delivered = stopped?.delivered;
        if (!stopped || !delivered || typeof delivered !== 'object') {
          throw new BenchError('the host did not log "sluice stopped" with a delivered count');
        }
        const counts = Object.entries(delivered as { [output: string]: unknown });
        if (counts.length === 0 || counts.some(([, n]) => n !== opts.lines)) {
          throw new BenchError(`expected ${opts.lines} records delivered to the output, the host reported ${JSON.stringify(delivered)}`);
        }
        const started = run.logs.find((l) => l.msg === 'sluice started');
        const host = run.probes.find((p) => p.pid === run.hostPid);
        for (const c of complaints(run)) progress(`host said: ${c}`);
        if (run.survivors.length) progress(`plugin pid(s) ${run.survivors.join(', ')} outlived the host: their CPU is not in the total`);
        if (check?.chunkFilesLeft.length) {
          progress(`${check.chunkFilesLeft.length} chunk file(s) left in storage.path after a clean exit: ${check.chunkFilesLeft.slice(0, 5).join(', ')}${check.chunkFilesLeft.length > 5 ? ', …' : ''}`);
        }
        if (check && index === 0 && check.otherLeft.length) progress(`storage.path after the run also holds: ${check.otherLeft.join(', ')} (reported for the first run only)`);
        // The plugins' share is the total minus the host's own: a plugin's
        // probe record is not reliable, because the host SIGKILLs the
        // plugin's process group when the Flush stream ends, which can beat
        // the plugin's own exit handlers.
        const pluginCpuS = host ? run.cpuS - host.cpuS : Number.NaN;
        return {
          run: index + 1,
          lines: opts.lines,
          wallS: run.wallS,
          linesPerS: opts.lines / run.wallS,
          cpuS: run.cpuS,
          linesPerCpuS: opts.lines / run.cpuS,
          hostCpuS: host?.cpuS ?? Number.NaN,
          pluginCpuS,
          hostRssMiB: host?.maxRssMiB ?? Number.NaN,
          pipelineS: started?.time && stopped.time ? (stopped.time - started.time) / 1000 : Number.NaN,
          ...(check ? { chunkFiles: chunkFiles ?? Number.NaN, chunkFilesLeft: check.chunkFilesLeft.length } : {}),
        };
      };
    },
  };
}

// ---------------------------------------------------------------- tail → kafka

/** librdkafka's mock cluster (test/kafka/mock-cluster.c), driven over its stdin; it exits when the bench does. */
async function startMockKafka(): Promise<{ bootstrap: string; command(line: string): Promise<string> }> {
  const child = spawn(await mockClusterBinary(), ['3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  // The bench exits when its runs are done; the cluster follows when its stdin closes.
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
  (child.stdout as unknown as { unref(): void }).unref();
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  let waiter: ((l: string) => void) | undefined;
  lines.on('line', (l) => (waiter ? (waiter(l), (waiter = undefined)) : queue.push(l)));
  const next = () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise<string>((r) => (waiter = r)));
  const first = await next();
  if (!first.startsWith('bootstrap ')) throw new BenchError(`the mock cluster said ${JSON.stringify(first)} instead of its bootstrap address`);
  return {
    bootstrap: first.slice('bootstrap '.length),
    async command(line) {
      child.stdin!.write(`${line}\n`);
      const answer = await next();
      if (!answer.startsWith('ok')) throw new BenchError(`mock cluster: ${line}: ${answer}`);
      return answer;
    },
  };
}

/**
 * tail → the bundled kafka plugin → librdkafka's mock cluster, a real
 * Kafka-protocol broker in one process (started by the bench, not counted in
 * CPU); then kcat producing the same file to the same cluster (kcat -P -l,
 * librdkafka in C, acks all) for comparison.
 */
function tailKafka(): Scenario {
  const out: TailOutput = { output: [] }; // filled in setup, once the cluster's address is known
  const base = tailNull('tail-kafka', 'tail → the bundled kafka output → librdkafka\'s mock cluster (3 brokers, 32 partitions, acks all, no compression); beside it kcat -P -l producing the same file to the same cluster', { type: 'memory' }, out);
  return {
    ...base,
    columns: [
      ...base.columns,
      { key: 'kcatWallS', header: 'kcat wall s', format: fixed(2) },
      { key: 'kcatCpuS', header: 'kcat CPU s', format: fixed(2) },
      { key: 'kcatLinesPerCpuS', header: 'kcat lines/CPU-s', format: int },
    ],
    async setup(opts) {
      progress('starting librdkafka\'s mock cluster (test/kafka/mock-cluster.c; needs gcc, librdkafka-dev and kcat: scripts/test-deps.sh)');
      const kafka = await startMockKafka();
      await kafka.command('topic bench-sluice 32');
      await kafka.command('topic bench-kcat 32');
      out.output.push('    - name: kafka', "      match: '*'", `      brokers: ${kafka.bootstrap}`, '      topic: bench-sluice');
      const run = await base.setup(opts);
      const file = logFile(opts.lines);
      return async (index) => {
        const row = await run(index);
        const cpuBefore = childrenCpuS();
        const t0 = performance.now();
        const code = await new Promise<number | null>((resolve, reject) => {
          const kcat = spawn('kcat', ['-P', '-b', kafka.bootstrap, '-t', 'bench-kcat', '-X', 'acks=all', '-l', file], { stdio: ['ignore', 'ignore', 'inherit'] });
          kcat.on('error', (err) => reject(new BenchError(`kcat: ${err.message} (scripts/test-deps.sh installs it)`)));
          kcat.on('close', resolve);
        });
        if (code !== 0) throw new BenchError(`kcat -P exited ${code}`);
        const kcatWallS = (performance.now() - t0) / 1000;
        const kcatCpuS = childrenCpuS() - cpuBefore;
        return { ...row, kcatWallS, kcatCpuS, kcatLinesPerCpuS: opts.lines / kcatCpuS };
      };
    },
  };
}

// ---------------------------------------------------------------- reload under load

const BATCHER = join(ROOT, 'test', 'fixtures', 'plugins', 'batcher.ts');

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
function max(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length ? Math.max(...s) : Number.NaN;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson(port: number, path: string, init?: RequestInit): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const body = await res.text();
  try {
    return JSON.parse(body);
  } catch {
    throw new BenchError(`${path} answered ${res.status} with something that is not JSON: ${body.slice(0, 200)}`);
  }
}

/** One sample of a Prometheus counter (first series whose labels include `labels`); NaN if absent. */
function promValue(text: string, name: string, labels: { [k: string]: string }): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const ls = open >= 0 && open < close ? line.slice(open + 1, close) : '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) return Number(line.slice(close + 1).trim());
  }
  return Number.NaN;
}

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
  /** Date.now() just before SIGHUP, to compare with the host's log times (same clock). */
  sighupAt: number;
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
  { key: 'readyMs', header: 'SIGHUP→new plugin ready ms', format: int },
  { key: 'drainMs', header: 'ready→done ms (drain + old exit)', format: int },
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
 * one drained with acknowledgement, its undelivered chunks handed over.
 */
function reloadUnderLoad(): Scenario {
  return {
    name: 'reload',
    description: 'hot reload under load: tail of a file appended to at --rate lines/s → batcher test plugin (linger 10 s, workers 8); --reloads SIGHUPs, each changing the output\'s label so its plugin is replaced',
    columns: [
      { key: 'run', header: 'run', format: String },
      { key: 'reloads', header: 'reloads', format: int },
      { key: 'appended', header: 'lines appended', format: int },
      { key: 'appendRate', header: 'lines/s appended', format: int },
      { key: 'medianInFlight', header: 'median in flight', format: fixed(1) },
      { key: 'maxTailBehind', header: 'max tail behind', format: int },
      { key: 'medianDurationMs', header: 'median duration_ms', format: int },
      { key: 'maxDurationMs', header: 'max duration_ms', format: int },
      { key: 'medianReadyMs', header: 'median SIGHUP→ready ms', format: int },
      { key: 'maxReadyMs', header: 'max SIGHUP→ready ms', format: int },
      { key: 'medianDrainMs', header: 'median ready→done ms', format: int },
      { key: 'maxDrainMs', header: 'max ready→done ms', format: int },
      { key: 'medianVisibleMs', header: 'median SIGHUP→visible ms', format: int },
      { key: 'drainedTotal', header: 'drained chunks', format: int },
      { key: 'handedOverTotal', header: 'handed over', format: int },
      { key: 'killed', header: 'killed', format: int },
      { key: 'catchUpS', header: 'catch-up s', format: fixed(1) },
      { key: 'delivered', header: 'lines delivered', format: int },
      { key: 'missing', header: 'missing', format: int },
      { key: 'duplicates', header: 'duplicates', format: int },
      { key: 'cpuS', header: 'CPU s', format: fixed(1) },
    ],
    bestBy: { key: 'medianDurationMs', higher: false },
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
          '',
        ].join('\n');

        const samples: ReloadSample[] = [];
        let appended = 0;
        let appendS = 0;
        let catchUpS = Number.NaN;
        let catchUp: any;
        try {
          const run = await runHost(config('gen-0', '10'), opts, {
            logLevel: 'debug',
            async drive(host) {
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
                  const [plugins, storage, prom] = await Promise.all([
                    getJson(port, '/api/v1/plugins'),
                    getJson(port, '/api/v1/storage'),
                    fetch(`http://127.0.0.1:${port}/api/v1/metrics/prometheus`).then((res) => res.text()),
                  ]);
                  const p = (plugins.plugins as any[]).find((x) => x.output === 'batch');
                  const read = promValue(prom, 'sluice_input_records_total', { name: 'tail.0' });
                  const sighupAt = Date.now();
                  const t = performance.now();
                  process.kill(host.pid, 'SIGHUP');
                  let state: any;
                  for (;;) {
                    state = await getJson(port, '/api/v2/reload');
                    if (state.hot_reload_count >= r) break;
                    if (performance.now() - t > 120_000) throw new BenchError(`reload ${r}: hot_reload_count still ${state.hot_reload_count} 120 s after SIGHUP`);
                    await sleep(5);
                  }
                  const visibleMs = performance.now() - t;
                  if (state.hot_reload_count !== r || state.last?.id !== r) throw new BenchError(`reload ${r}: expected hot_reload_count ${r}, got ${state.hot_reload_count} (last.id ${state.last?.id})`);
                  samples.push({
                    id: r, inFlight: p?.in_flight ?? Number.NaN, pending: p?.pending ?? Number.NaN,
                    inputPaused: storage?.input_chunks?.['tail.0']?.paused, tailBehind: appended - read, sighupAt, visibleMs, last: state.last,
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
                  const text = await (await fetch(`http://127.0.0.1:${port}/api/v1/metrics/prometheus`)).text();
                  const delivered = promValue(text, 'sluice_output_proc_records_total', { name: 'batch' });
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
                process.kill(host.pid, 'SIGTERM');
                await host.exit;
              } finally {
                stopAppending();
              }
            },
          });

          checkExit(run);
          for (const c of complaints(run)) progress(`host said: ${c}`);
          // The plugin processes of every generation must be gone.
          const pids = new Set<number>();
          for (const s of samples) for (const k of ['pid_before', 'pid_after'] as const) if (typeof s.last.outputs?.batch?.[k] === 'number') pids.add(s.last.outputs.batch[k]);
          const alive = [...pids].filter((p) => existsSync(`/proc/${p}`));
          if (alive.length) progress(`plugin pid(s) ${alive.join(', ')} outlived the host: their CPU is not in the total`);

          const at = (msg: string, reload: number) => run.logs.find((l) => l.msg === msg && l.reload === reload)?.time ?? Number.NaN;
          const rows: Row[] = samples.map((s) => {
            const o = s.last.outputs?.batch ?? {};
            const readyAt = run.logs.find((l) => l.msg === 'plugin ready' && l.plugin_pid === o.pid_after)?.time ?? Number.NaN;
            const doneAt = at('reload done', s.id);
            return {
              reload: s.id,
              inFlight: s.inFlight,
              pending: s.pending,
              inputPaused: s.inputPaused === undefined ? '–' : s.inputPaused ? 'yes' : 'no',
              tailBehind: s.tailBehind,
              startMs: at('reload: loading the new config', s.id) - s.sighupAt,
              readyMs: readyAt - s.sighupAt,
              drainMs: doneAt - readyAt,
              durationMs: s.last.duration_ms,
              visibleMs: s.visibleMs,
              drained: o.drained_chunks ?? Number.NaN,
              handedOver: o.handed_over_chunks ?? Number.NaN,
              killed: o.killed === undefined ? '–' : String(o.killed),
            };
          });
          process.stdout.write(`\nreload run ${index + 1}: one row per reload (the first four columns are sampled through the API just before the SIGHUP)\n\n${table({ columns: RELOAD_COLUMNS }, rows)}\n`);

          const problems: string[] = [];
          for (const s of samples) {
            const o = s.last.outputs?.batch;
            if (s.last.status !== 'ok') problems.push(`reload ${s.id}: status ${s.last.status}: ${JSON.stringify(s.last.errors)}`);
            if (o?.action !== 'changed') problems.push(`reload ${s.id}: the output's action is ${JSON.stringify(o?.action)}, not "changed"`);
            if (o?.killed !== false) problems.push(`reload ${s.id}: killed is ${JSON.stringify(o?.killed)}`);
          }
          if (catchUp?.status !== 'ok' || catchUp?.outputs?.batch?.killed !== false) problems.push(`the catch-up reload: ${JSON.stringify(catchUp)}`);
          const stopped = run.logs.find((l) => l.msg === 'sluice stopped');
          const reported = (stopped?.delivered as { [k: string]: unknown } | undefined)?.batch;
          if (reported !== appended) problems.push(`the host reported ${JSON.stringify(stopped?.delivered)} delivered at exit, expected ${appended}`);
          const check = checkDelivered(out, appended);
          if (check.missing || check.duplicates || check.unparsed || check.lines !== appended) {
            problems.push(`the output file has ${check.lines} lines for ${appended} appended: ${check.missing} missing (first: ${check.firstMissing.join(', ')}), ${check.duplicates} duplicated, ${check.unparsed} not from the bench`);
          }
          if (problems.length) throw new BenchError(`reload run ${index + 1} failed:\n  ${problems.join('\n  ')}`);

          const num = (k: string) => rows.map((r) => r[k] as number);
          return {
            run: index + 1,
            reloads: samples.length,
            appended,
            appendRate: appended / appendS,
            medianInFlight: median(num('inFlight')),
            maxTailBehind: max(num('tailBehind')),
            medianDurationMs: median(num('durationMs')),
            maxDurationMs: max(num('durationMs')),
            medianReadyMs: median(num('readyMs')),
            maxReadyMs: max(num('readyMs')),
            medianDrainMs: median(num('drainMs')),
            maxDrainMs: max(num('drainMs')),
            medianVisibleMs: median(num('visibleMs')),
            drainedTotal: num('drained').reduce((a, b) => a + b, 0),
            handedOverTotal: num('handedOver').reduce((a, b) => a + b, 0),
            killed: rows.filter((r) => r.killed !== 'false').length,
            catchUpS,
            delivered: check.unique,
            missing: check.missing,
            duplicates: check.duplicates,
            cpuS: run.cpuS,
          };
        } finally {
          if (opts.keep) progress(`kept ${work} (tailed file and output)`);
          else rmSync(work, { recursive: true, force: true });
        }
      };
    },
  };
}

// ---------------------------------------------------------------- forward → null

/** Lines per PackedForward frame the load generator sends (about 200 KiB of entries). */
const FORWARD_FRAME_LINES = 1000;
/** Frames the load generator keeps unacknowledged, as out_forward with require_ack_response does. */
const FORWARD_WINDOW = 4;

/**
 * A load generator in the bench process sends the bench file as
 * PackedForward frames ({log: line}, EventTime), each with option.chunk, over
 * loopback to a forward input (memory storage) → null, keeping
 * FORWARD_WINDOW frames unacknowledged. The frames are built before the
 * host starts. Once every frame is acked (its events are stored), the host
 * gets SIGTERM and delivers what is pending. The generator's CPU is its
 * own (bench process), reported apart, not in CPU s.
 */
function forwardNull(): Scenario {
  return {
    name: 'forward-null',
    description: `PackedForward frames of ${FORWARD_FRAME_LINES} lines with acks (${FORWARD_WINDOW} unacked at a time) over loopback → forward input → null, memory storage`,
    columns: [
      { key: 'run', header: 'run', format: String },
      { key: 'lines', header: 'lines', format: int },
      { key: 'frames', header: 'frames', format: int },
      { key: 'wallS', header: 'wall s', format: fixed(2) },
      { key: 'sendS', header: 'first frame→last ack s', format: fixed(2) },
      { key: 'linesPerS', header: 'acked lines/s', format: int },
      { key: 'cpuS', header: 'CPU s', format: fixed(2) },
      { key: 'linesPerCpuS', header: 'lines/CPU-s', format: int },
      { key: 'hostCpuS', header: 'host CPU s', format: fixed(2) },
      { key: 'pluginCpuS', header: 'plugin CPU s', format: fixed(2) },
      { key: 'clientCpuS', header: 'client CPU s', format: fixed(2) },
      { key: 'hostRssMiB', header: 'host peak RSS MiB', format: fixed(0) },
    ],
    bestBy: { key: 'linesPerCpuS', higher: true },
    async setup(opts) {
      const text = readFileSync(logFile(opts.lines), 'latin1');
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
        'pipeline:',
        '  inputs:',
        '    - name: forward',
        '      listen: 127.0.0.1',
        '      port: 0',
        '  outputs:',
        ...NULL_OUTPUT.output,
        '',
      ].join('\n');
      return async (index) => {
        let sendS = Number.NaN;
        let clientCpuS = Number.NaN;
        const run = await runHost(config, opts, {
          async drive(host) {
            const listening = await host.waitForLog((l) => l.msg === 'forward input listening', 'forward input listening', 120_000);
            const client = await ForwardClient.connect(listening.port as number);
            const t0 = performance.now();
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
            sendS = (performance.now() - t0) / 1000;
            const cpu = process.cpuUsage(cpu0);
            clientCpuS = (cpu.user + cpu.system) / 1e6;
            await client.end();
            process.kill(host.pid, 'SIGTERM');
            await host.exit;
          },
        });
        checkExit(run);
        const stopped = run.logs.find((l) => l.msg === 'sluice stopped');
        const delivered = (stopped?.delivered as { [k: string]: unknown } | undefined) ?? {};
        if (Object.values(delivered).length === 0 || Object.values(delivered).some((n) => n !== opts.lines)) {
          throw new BenchError(`expected ${opts.lines} records delivered to the output, the host reported ${JSON.stringify(stopped?.delivered)}`);
        }
        for (const c of complaints(run)) progress(`host said: ${c}`);
        const host = run.probes.find((p) => p.pid === run.hostPid);
        return {
          run: index + 1,
          lines: opts.lines,
          frames: frames.length,
          wallS: run.wallS,
          sendS,
          linesPerS: opts.lines / sendS,
          cpuS: run.cpuS,
          linesPerCpuS: opts.lines / run.cpuS,
          hostCpuS: host?.cpuS ?? Number.NaN,
          pluginCpuS: host ? run.cpuS - host.cpuS : Number.NaN,
          clientCpuS,
          hostRssMiB: host?.maxRssMiB ?? Number.NaN,
        };
      };
    },
  };
}

const SCENARIOS: Scenario[] = [
  // The first entry is the default scenario.
  tailNull('tail-null', 'tail a file from its head to EOF → bundled null output, memory storage; the host\'s throughput alone', { type: 'memory' }),
  tailNull('tail-null-fs', 'tail-null with storage.type: filesystem on the tail input (storage.sync: normal: chunk files written, no fsync)', { type: 'filesystem', sync: 'normal' }),
  tailNull('tail-null-fs-full', 'tail-null with storage.type: filesystem and storage.sync: full (each chunk file fsynced before its rename)', { type: 'filesystem', sync: 'full' }),
  tailNull('tail-decode-ts', 'tail → the bundled counter plugin (TypeScript SDK), which decodes every event; memory storage', { type: 'memory' }, TS_DECODE_OUTPUT),
  tailNull('tail-decode-go', 'tail → bench/go/decode (Go SDK), which decodes every event; memory storage', { type: 'memory' }, GO_DECODE_OUTPUT),
  tailNull('tail-parse-null', 'tail with a regex parser (time, level, service, pid, the rest; time_format) → null; memory storage', { type: 'memory' }, {
    ...NULL_OUTPUT,
    top: [
      'parsers:',
      '  - name: bench',
      '    format: regex',
      "    regex: '^(?<time>[^ ]+) (?<level>[A-Z]+) +(?<service>[a-z]+)\\[(?<pid>[0-9]+)\\]: (?<rest>.*)$'",
      '    time_key: time',
      "    time_format: '%Y-%m-%dT%H:%M:%S.%LZ'",
      '    types: pid:integer',
    ],
    input: ['      parser: bench'],
  }),
  tailNull('tail-json-null', 'tail JSON lines (time, level, service, pid, log) with parser json (time_key time, time_format) → null; memory storage', { type: 'memory' }, {
    ...NULL_OUTPUT,
    json: true,
    top: [
      'parsers:',
      '  - name: bench_json',
      '    format: json',
      '    time_key: time',
      "    time_format: '%Y-%m-%dT%H:%M:%S.%LZ'",
    ],
    input: ['      parser: bench_json'],
  }),
  tailKafka(),
  reloadUnderLoad(),
  forwardNull(),
];

// ---------------------------------------------------------------- report

function table(s: { columns: Column[] }, rows: Row[]): string {
  const cells = rows.map((r) => s.columns.map((c) => {
    const v = r[c.key];
    return v === undefined || (typeof v === 'number' && Number.isNaN(v)) ? '–' : c.format(v);
  }));
  const headers = s.columns.map((c) => c.header);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (xs: string[]) => `| ${xs.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(headers), sep, ...cells.map(line)].join('\n');
}

function best(s: Scenario, rows: Row[]): Row {
  const { key, higher } = s.bestBy;
  return rows.reduce((a, b) => ((higher ? (b[key] as number) > (a[key] as number) : (b[key] as number) < (a[key] as number)) ? b : a));
}

// ---------------------------------------------------------------- main

function positiveInt(name: string, v: string | boolean | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < 1) throw new BenchError(`--${name} needs a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}

function nonNegative(name: string, v: string | boolean | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0) throw new BenchError(`--${name} needs a number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'tail-null' },
      lines: { type: 'string' },
      runs: { type: 'string' },
      reloads: { type: 'string' },
      rate: { type: 'string' },
      interval: { type: 'string' },
      handover: { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void process.stdout.write(USAGE);
  if (values.list) return void process.stdout.write(SCENARIOS.map((s) => `${s.name}\t${s.description}\n`).join(''));
  const opts: Options = {
    lines: positiveInt('lines', values.lines, 1_000_000),
    runs: positiveInt('runs', values.runs, 1),
    keep: values.keep,
    json: values.json,
    verbose: values.verbose,
    reloads: positiveInt('reloads', values.reloads, 10),
    rate: positiveInt('rate', values.rate, 100_000),
    interval: nonNegative('interval', values.interval, 2),
  };
  if (values.handover !== undefined) {
    if (values.handover !== 'auto' && values.handover !== 'bytes') throw new BenchError(`--handover needs auto or bytes, got ${JSON.stringify(values.handover)}`);
    // The host reads it as every output's default chunk_handover.
    process.env.SLUICE_CHUNK_HANDOVER = values.handover;
  }
  const chosen = values.scenario === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === values.scenario);
  if (chosen.length === 0) throw new BenchError(`unknown scenario ${JSON.stringify(values.scenario)}; known: ${SCENARIOS.map((s) => s.name).join(', ')}, all`);

  process.stdout.write(`sluice bench: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), ${new Date().toISOString()}\n`);
  const results: { scenario: string; runs: Row[]; best: Row }[] = [];
  for (const s of chosen) {
    const runOnce = await s.setup(opts);
    const rows: Row[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const what = s.name === 'reload'
        ? `${opts.reloads} reloads, ${opts.rate.toLocaleString('en')} lines/s appended, ${opts.interval} s apart`
        : `${opts.lines.toLocaleString('en')} lines`;
      progress(`running ${s.name} ${i + 1}/${opts.runs} (${what})…`);
      rows.push(await runOnce(i));
    }
    const b = best(s, rows);
    const bestCol = s.columns.find((c) => c.key === s.bestBy.key)?.header ?? s.bestBy.key;
    process.stdout.write(`\n${s.name}: ${s.description}\n\n${table(s, [...rows, ...(rows.length > 1 ? [{ ...b, run: `best (${bestCol})` }] : [])])}\n`);
    results.push({ scenario: s.name, runs: rows, best: b });
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ node: process.version, cpus: cpus().length, date: new Date().toISOString(), results })}\n`);
}

main().catch((err) => {
  statusDone();
  const usage = typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_');
  process.stderr.write(`bench: ${err instanceof BenchError || usage ? err.message : (err?.stack ?? err)}\n${usage ? `\n${USAGE}` : ''}`);
  process.exit(1);
});
