// tail of the bench file from its head → one output. The host runs without
// exit_on_eof, with its HTTP API on; the bench polls the metrics until the
// plugin reports every line delivered (its own counter, or the lines of the
// file it wrote), then stops the host with SIGTERM.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mockClusterBinary } from '../../test/kafka/mock-binary.ts';
import { BenchError, commonOutputKeys, fixed, int, progress, type Options, type Row, type Scenario } from '../common.ts';
import { logFile } from '../data.ts';
import { HTTP_API, ROOT, apiPort, awaitDelivered, checkExit, childrenCpuS, reportComplaints, runHost, type Delivery } from '../host.ts';
import { THROUGHPUT_COLUMNS, THROUGHPUT_COMPARE, throughputRow } from '../throughput.ts';

/** Storage of the tail input. */
type TailStorage = { type: 'memory' } | { type: 'filesystem'; sync: 'normal' | 'full' };

/** The output of a tail scenario. `work` is the run's own temp directory. */
export interface TailOutput {
  /** plugins: entries it needs, made once in setup (a Go build). */
  plugins?: () => string[];
  output: (work: string) => string[];
  /** How the plugin reports what it delivered: a metric of its own (as sluice_plugin_<name>), or the lines of the file it wrote. */
  delivered: { metric: string } | { fileLines: (work: string) => string };
  /** Top-level sections before pipeline: (parsers:). */
  top?: string[];
  /** More keys of the tail input. */
  input?: string[];
  /** Tail the JSON form of the bench file. */
  json?: boolean;
}

/** What the null plugins (bundled, bench/go/null) acknowledged, as the host exposes it. */
export const NULL_METRIC = 'sluice_plugin_null_acked_records_total';

export const NULL_OUTPUT: TailOutput = { output: () => ["    - name: 'null'", "      match: '*'"], delivered: { metric: NULL_METRIC } };

/** The bundled counter plugin (TypeScript SDK): decodes every event. */
export const TS_DECODE_OUTPUT: TailOutput = { output: () => ['    - name: counter', "      match: '*'"], delivered: { metric: 'sluice_plugin_counter_records_total' } };

/** A plugin of bench/go/, built once with scripts/go.sh (offline, Debian's Go packages). */
function goPlugin(dir: string, name: string, delivered: TailOutput['delivered']): TailOutput {
  return {
    plugins() {
      const bin = join(mkdtempSync(join(tmpdir(), 'sluice-bench-go-')), name);
      progress(`building bench/go/${dir} with scripts/go.sh`);
      execFileSync(join(ROOT, 'scripts', 'go.sh'), ['build', '-o', bin, `./bench/go/${dir}`], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
      return ['plugins:', `  ${name}:`, `    command: [${JSON.stringify(bin)}]`];
    },
    output: () => [`    - name: ${name}`, "      match: '*'"],
    delivered,
  };
}

/** bench/go/decode (Go SDK): decodes every event, the Go twin of counter. */
export const GO_DECODE_OUTPUT = goPlugin('decode', 'godecode', { metric: 'sluice_plugin_decode_records_total' });
/** bench/go/null (Go SDK): answers OK without decoding, the Go twin of null. */
export const GO_NULL_OUTPUT = goPlugin('null', 'gonull', { metric: NULL_METRIC });

/** The bundled file plugin: every event as a JSON line into the run's temp directory. */
export const FILE_OUTPUT: TailOutput = {
  output: (work) => ['    - name: file', "      match: '*'", `      path: ${JSON.stringify(join(work, 'out.jsonl'))}`],
  delivered: { fileLines: (work) => join(work, 'out.jsonl') },
};

/** Lines (newlines) in a file; a last line without one counts too. */
function countLines(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let lines = 0;
    let last = 10;
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) {
      for (let i = buf.indexOf(10, 0); i >= 0 && i < n; i = buf.indexOf(10, i + 1)) lines++;
      last = buf[n - 1]!;
    }
    return last === 10 ? lines : lines + 1;
  } finally {
    closeSync(fd);
  }
}

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

/**
 * tail a file from its head → an output (the bundled null one by default),
 * with the tail input's chunks in memory or (filesystem) also written to
 * files under the run's own storage.path.
 */
export function tailScenario(name: string, description: string, storage: TailStorage, out: TailOutput = NULL_OUTPUT): Scenario {
  const fs = storage.type === 'filesystem';
  return {
    name,
    description,
    columns: [
      ...THROUGHPUT_COLUMNS,
      ...(fs
        ? [
          { key: 'chunkFiles', header: 'chunk files written', format: int },
          { key: 'chunkFilesLeft', header: 'left after', format: int },
        ]
        : []),
    ],
    compare: THROUGHPUT_COMPARE,
    async setup(opts) {
      const file = logFile(opts.lines, out.json);
      const bytes = statSync(file).size;
      const plugins = out.plugins?.() ?? [];
      const config = (work: string) => [
        `# Written by bench/run.ts (scenario ${name}).`,
        'service:',
        '  log_level: info',
        ...HTTP_API,
        ...(fs ? [`  storage.path: ${JSON.stringify(join(work, 'storage'))}`, `  storage.sync: ${storage.sync}`] : []),
        ...plugins,
        ...(out.top ?? []),
        'pipeline:',
        '  inputs:',
        '    - name: tail',
        `      path: ${JSON.stringify(file)}`,
        '      tag: bench',
        '      read_from_head: true',
        ...(fs ? ['      storage.type: filesystem'] : []),
        ...(out.input ?? []),
        '  outputs:',
        ...out.output(work),
        ...commonOutputKeys(opts),
        '',
      ].join('\n');
      return async (index) => {
        const work = mkdtempSync(join(tmpdir(), 'sluice-bench-run-'));
        // The input's chunk directory is storage.path/<instance>, and the
        // instance is tail.0 (the default alias); made here so it can be watched.
        const chunkDir = fs ? join(work, 'storage', 'tail.0') : undefined;
        if (chunkDir) mkdirSync(chunkDir, { recursive: true });
        const watcher = chunkDir ? watchChunkFiles(chunkDir) : undefined;
        try {
          let delivery: Delivery | undefined;
          let t0 = 0;
          const run = await runHost(config(work), opts, async (host) => {
            t0 = host.t0;
            const port = await apiPort(host);
            delivery = await awaitDelivered(host, port, opts.lines, 'metric' in out.delivered ? out.delivered.metric : undefined);
            await host.stop();
          });
          // Let the watcher's last events (queued before the host exited) arrive.
          if (watcher) await new Promise((r) => setTimeout(r, 50));
          const chunkFiles = watcher?.stop();
          checkExit(run);
          reportComplaints(run);
          const delivered = 'metric' in out.delivered ? delivery!.plugin : countLines(out.delivered.fileLines(work));
          const row: Row = throughputRow(index, opts.lines, bytes, run, t0, delivery!, delivered);
          if (!fs) return row;
          const check = checkStorage(join(work, 'storage'));
          if (check.chunkFilesLeft.length) {
            progress(`${check.chunkFilesLeft.length} chunk file(s) left in storage.path after a clean exit: ${check.chunkFilesLeft.slice(0, 5).join(', ')}${check.chunkFilesLeft.length > 5 ? ', …' : ''}`);
          }
          if (index === 0 && check.otherLeft.length) progress(`storage.path after the run also holds: ${check.otherLeft.join(', ')} (reported for the first run only)`);
          return { ...row, chunkFiles: chunkFiles ?? Number.NaN, chunkFilesLeft: check.chunkFilesLeft.length };
        } finally {
          watcher?.stop();
          if (opts.keep) progress(`kept ${work} (storage.path, output file)`);
          else rmSync(work, { recursive: true, force: true });
        }
      };
    },
  };
}

/** librdkafka's mock cluster (test/kafka/mock-cluster.c), driven over its stdin; it exits when the bench does. */
async function startMockKafka(): Promise<{ bootstrap: string; command(line: string): Promise<string> }> {
  const child = spawn(await mockClusterBinary(), ['3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  // The bench exits when its runs are done; the cluster follows when its
  // stdin closes. Its stdout holds the bench only while an answer is awaited.
  child.unref();
  const stdout = child.stdout as unknown as { ref(): void; unref(): void };
  (child.stdin as unknown as { unref(): void }).unref();
  stdout.unref();
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  let waiter: ((l: string) => void) | undefined;
  lines.on('line', (l) => (waiter ? (waiter(l), (waiter = undefined)) : queue.push(l)));
  const next = () => {
    if (queue.length) return Promise.resolve(queue.shift()!);
    stdout.ref();
    return new Promise<string>((r) => (waiter = r)).finally(() => stdout.unref());
  };
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
 * CPU); delivered is the plugin's count of messages Kafka acknowledged. Then
 * kcat producing the same file to the same cluster (kcat -P -l, librdkafka in
 * C, acks all) for comparison.
 */
export function tailKafka(): Scenario {
  let brokers = ''; // set in setup, once the cluster's address is known
  const out: TailOutput = {
    output: () => ['    - name: kafka', "      match: '*'", `      brokers: ${brokers}`, '      topic: bench-sluice'],
    delivered: { metric: 'sluice_plugin_kafka_messages_total' },
  };
  const base = tailScenario('tail-kafka', 'tail → the bundled kafka output → librdkafka\'s mock cluster (3 brokers, 32 partitions, acks all, no compression); beside it kcat -P -l producing the same file to the same cluster', { type: 'memory' }, out);
  return {
    ...base,
    columns: [
      ...base.columns,
      { key: 'kcatWallS', header: 'kcat wall s', format: fixed(2) },
      { key: 'kcatCpuS', header: 'kcat CPU s', format: fixed(2) },
      { key: 'kcatLinesPerCpuS', header: 'kcat lines/CPU-s', format: int },
    ],
    async setup(opts: Options) {
      progress('starting librdkafka\'s mock cluster (test/kafka/mock-cluster.c; needs gcc, librdkafka-dev and kcat: scripts/test-deps.sh)');
      const kafka = await startMockKafka();
      await kafka.command('topic bench-sluice 32');
      await kafka.command('topic bench-kcat 32');
      brokers = kafka.bootstrap;
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
