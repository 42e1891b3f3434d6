#!/usr/bin/env node
// sluice benchmarks: `npm run bench -- [--scenario NAME|all] [--lines N] [--runs N] ...`.
//
// Each scenario spawns the real host (`sluice run -c <temp config>`) on this
// Node, drives it, stops it once the plugin reports every event delivered,
// and measures wall time, CPU and peak RSS of the host and of its plugins
// (bench/host.ts). Each scenario runs --runs times; the tables give every
// run and the median (min–max). The method is in bench/RESULTS.md.
//
// To add a benchmark, add an entry to SCENARIOS below: setup() prepares
// data once and returns a function that performs one run and returns a row.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BenchError, progress, statusDone, type Options, type Row, type Scenario } from './common.ts';
import { commandLine, commit, compare, header, loadAverage, machine, medianRange, readResult, summarize, table, type BenchResult } from './report.ts';
import { buildHost } from './host.ts';
import { forwardNull } from './scenarios/forward.ts';
import { reloadUnderLoad } from './scenarios/reload.ts';
import { FILE_OUTPUT, GO_DECODE_OUTPUT, GO_NULL_OUTPUT, NULL_OUTPUT, TS_DECODE_OUTPUT, tailKafka, tailScenario } from './scenarios/tail.ts';
import { THROUGHPUT_COLUMNS } from './throughput.ts';

const USAGE = `Usage: npm run bench -- [options]

  --scenario NAMES  scenario to run, several separated by commas, or "all" (default: tail-null)
  --lines N         lines of input (default: 1000000; not used by reload)
  --runs N          runs per scenario; each is reported, then the median (min–max) (default: 3)
  --reloads N       reload: reloads per run (default: 20)
  --rate N          reload: lines appended to the tailed file per second (default: 100000)
  --interval S      reload: seconds between a reload's end and the next SIGHUP (default: 2)
  --handover MODE   chunk_handover: MODE (auto or bytes) on every output; left out when not given
  --source          run the host and bundled plugins from their TypeScript source (default: build
                    dist/ first, as npm pack does, and run that: what users install)
  --out FILE        write the results as JSON to FILE (for --compare later)
  --compare FILE    compare with an earlier --out FILE: new/old of each scenario's medians
  --json            also print the results as one JSON line on stdout
  --keep            keep each run's temp directories (config, probe records, storage.path, output)
  --verbose         copy the host's stderr (its JSON log) to stderr
  --list            list the scenarios
  --help            print this help
`;

const SCENARIOS: Scenario[] = [
  // The first entry is the default scenario.
  tailScenario('tail-null', 'tail a file from its head → bundled null output, memory storage; the host\'s throughput alone', { type: 'memory' }),
  tailScenario('tail-null-fs', 'tail-null with storage.type: filesystem on the tail input (storage.sync: normal: chunk files written, no fsync)', { type: 'filesystem', sync: 'normal' }),
  tailScenario('tail-null-fs-full', 'tail-null with storage.type: filesystem and storage.sync: full (each chunk file fsynced before its rename)', { type: 'filesystem', sync: 'full' }),
  tailScenario('tail-null-go', 'tail → bench/go/null (Go SDK), which answers OK without decoding, like the bundled null; memory storage', { type: 'memory' }, GO_NULL_OUTPUT),
  tailScenario('tail-decode-ts', 'tail → the bundled counter plugin (TypeScript SDK), which decodes every event; memory storage', { type: 'memory' }, TS_DECODE_OUTPUT),
  tailScenario('tail-decode-go', 'tail → bench/go/decode (Go SDK), which decodes every event; memory storage', { type: 'memory' }, GO_DECODE_OUTPUT),
  tailScenario('tail-file', 'tail → the bundled file plugin, every event as a JSON line into a temp directory; memory storage', { type: 'memory' }, FILE_OUTPUT),
  tailScenario('tail-parse-null', 'tail with a regex parser (time, level, service, pid, the rest; time_format) → null; memory storage', { type: 'memory' }, {
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
  tailScenario('tail-json-null', 'tail JSON lines (time, level, service, pid, log) with parser json (time_key time, time_format) → null; memory storage', { type: 'memory' }, {
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

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new BenchError(`--${name} needs a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}

function nonNegative(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new BenchError(`--${name} needs a number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

/** The overview: one row per throughput scenario, each cell the median (min–max) over the runs. */
function overview(results: { scenario: Scenario; runs: Row[] }[]): string | undefined {
  const rows = results.filter((r) => r.runs.every((x) => typeof x.linesPerCpuS === 'number'));
  if (rows.length < 2) return undefined;
  const columns = [{ key: 'scenario', header: 'scenario', format: String }, ...THROUGHPUT_COLUMNS.filter((c) => c.key !== 'run')];
  const cells = rows.map(({ scenario, runs }) => {
    const s = summarize(runs);
    const row: Row = { scenario: scenario.name };
    for (const c of columns.slice(1)) {
      const x = s[c.key];
      const marked = runs.map((r) => c.note?.(r)).find(Boolean) ? ' †' : '';
      row[c.key] = !x || Number.isNaN(x.median) ? Number.NaN : `${medianRange(c, x)}${marked}`;
    }
    return row;
  });
  const text = table(columns.map((c) => ({ ...c, format: String, note: undefined })), cells, false);
  return `${text}\n\n† measured another way than the Node processes' own records: see the scenario's table`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string', default: 'tail-null' },
      lines: { type: 'string' },
      runs: { type: 'string' },
      reloads: { type: 'string' },
      rate: { type: 'string' },
      interval: { type: 'string' },
      handover: { type: 'string' },
      source: { type: 'boolean', default: false },
      out: { type: 'string' },
      compare: { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void process.stdout.write(USAGE);
  if (values.list) return void process.stdout.write(SCENARIOS.map((s) => `${s.name}\t${s.description}\n`).join(''));
  if (values.handover !== undefined && values.handover !== 'auto' && values.handover !== 'bytes') {
    throw new BenchError(`--handover needs auto or bytes, got ${JSON.stringify(values.handover)}`);
  }
  const opts: Options = {
    lines: positiveInt('lines', values.lines, 1_000_000),
    runs: positiveInt('runs', values.runs, 3),
    keep: values.keep,
    verbose: values.verbose,
    reloads: positiveInt('reloads', values.reloads, 20),
    rate: positiveInt('rate', values.rate, 100_000),
    interval: nonNegative('interval', values.interval, 2),
    handover: values.handover as Options['handover'],
    source: values.source,
  };
  if (!opts.source) buildHost();
  const names = values.scenario === 'all' ? SCENARIOS.map((s) => s.name) : values.scenario.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length || !names.length) throw new BenchError(`unknown scenario ${JSON.stringify(unknown.join(','))}; known: ${SCENARIOS.map((s) => s.name).join(', ')}, all`);
  const chosen = names.map((n) => SCENARIOS.find((s) => s.name === n)!);
  // Read before the runs, so a wrong file fails at once.
  const older = values.compare ? readResult(values.compare) : undefined;

  const m = machine();
  const date = new Date().toISOString();
  const command = commandLine(args);
  const tree = commit();
  process.stdout.write(header(m, date, command, tree, opts.runs, opts.source));
  const results: { scenario: Scenario; runs: Row[] }[] = [];
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
    process.stdout.write(`\n### ${s.name}\n\n${s.description}\n\n${table(s.columns, rows)}\n`);
    results.push({ scenario: s, runs: rows });
  }
  const all = overview(results);
  if (all) process.stdout.write(`\n### all scenarios: median (min–max) of ${opts.runs} runs\n\n${all}\n`);
  process.stdout.write(`\nload average (1, 5, 15 min) at the end: ${loadAverage()}\n`);

  const result: BenchResult = {
    format: 2,
    date,
    command,
    commit: tree,
    machine: m,
    options: { scenario: values.scenario, lines: opts.lines, runs: opts.runs, reloads: opts.reloads, rate: opts.rate, interval: opts.interval, handover: opts.handover ?? null },
    results: results.map(({ scenario, runs }) => ({ scenario: scenario.name, description: scenario.description, runs, summary: summarize(runs), compare: scenario.compare })),
  };
  if (older) process.stdout.write(`\n${compare(older, result, values.compare!)}\n`);
  if (values.out) {
    writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
    progress(`wrote ${values.out}`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  statusDone();
  const usage = typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_');
  process.stderr.write(`bench: ${err instanceof BenchError || usage ? err.message : (err?.stack ?? err)}\n${usage ? `\n${USAGE}` : ''}`);
  process.exit(1);
});
