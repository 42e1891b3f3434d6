// The bench's results as markdown (ready for bench/RESULTS.md) and JSON, and
// the comparison of a result with an earlier one (--compare).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { BenchError, fixed, int, type Column, type Row } from './common.ts';

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  kernel: string;
}

export function machine(): Machine {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // no coreutils: the CPUs Node sees
  }
  let cpu = cpus()[0]?.model.trim() ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return { nproc, cpu, node: process.version, kernel: release() };
}

/** The checkout's commit, "-dirty" with uncommitted changes; undefined outside git. */
export function commit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return undefined;
  }
}

/** The command line as typed, shell-quoted where needed. */
export function commandLine(args: string[]): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const viaNpm = process.env.npm_lifecycle_event === 'bench';
  return `${viaNpm ? 'npm run bench --' : 'node bench/run.ts'}${args.length ? ` ${args.map(q).join(' ')}` : ''}`;
}

export const loadAverage = () => loadavg().map((x) => x.toFixed(2)).join(' ');

export function header(m: Machine, date: string, command: string, gitCommit: string | undefined, runs: number, source: boolean): string {
  return [
    `## sluice bench, ${date}`,
    '',
    `- command: \`${command}\``,
    `- machine: ${m.nproc} CPUs (nproc), ${m.cpu}, Linux ${m.kernel}, Node ${m.node}`,
    `- tree: ${gitCommit ?? 'not a git checkout'}; host and bundled plugins run ${source ? 'from TypeScript source (--source)' : 'from dist/, built as npm pack ships it'}`,
    `- load average (1, 5, 15 min) at start: ${loadAverage()}`,
    `- ${runs} run${runs === 1 ? '' : 's'} per scenario; the last row of each table is the median (min–max) over the runs`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- statistics

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile: of 20 samples, p50 is the 10th and p99 the 20th (the largest). */
export function percentile(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1]!;
}

export function spread(xs: number[]): Spread {
  const s = xs.filter((x) => Number.isFinite(x));
  return { median: median(s), min: s.length ? Math.min(...s) : Number.NaN, max: s.length ? Math.max(...s) : Number.NaN };
}

/** Median (min–max) of every numeric column over the runs. */
export function summarize(rows: Row[]): { [key: string]: Spread } {
  const out: { [key: string]: Spread } = {};
  for (const key of Object.keys(rows[0] ?? {})) {
    if (rows.every((r) => typeof r[key] === 'number')) out[key] = spread(rows.map((r) => r[key] as number));
  }
  return out;
}

// ---------------------------------------------------------------- tables

/** "median (min–max)" as the column formats numbers; the median alone when the three read the same. */
export function medianRange(c: Column, s: Spread): string {
  const [m, lo, hi] = [c.format(s.median), c.format(s.min), c.format(s.max)];
  return lo === hi ? m : `${m} (${lo}–${hi})`;
}

const blank = (v: number | string | undefined) => v === undefined || (typeof v === 'number' && Number.isNaN(v));
const MARKS = ['†', '‡', '§', '¶'];

/**
 * A markdown table of `rows` (one per run) and, with more than one run, a
 * last row "median (min–max)". Cells measured another way than the rest
 * (Column.note) get a mark, and the note follows the table.
 */
export function table(columns: Column[], rows: Row[], summaryRow = rows.length > 1): string {
  const notes: string[] = [];
  const mark = (note: string | undefined) => {
    if (!note) return '';
    if (!notes.includes(note)) notes.push(note);
    return ` ${MARKS[notes.indexOf(note)] ?? '*'}`;
  };
  const cell = (c: Column, r: Row) => (blank(r[c.key]) ? '–' : `${c.format(r[c.key]!)}${mark(c.note?.(r))}`);
  const cells = rows.map((r) => columns.map((c) => cell(c, r)));
  if (summaryRow) {
    const stats = summarize(rows);
    cells.push(columns.map((c, i) => {
      if (i === 0) return 'median (min–max)';
      const s = stats[c.key];
      if (!s) return rows.every((r) => r[c.key] === rows[0]![c.key]) && !blank(rows[0]![c.key]) ? c.format(rows[0]![c.key]!) : '';
      if (Number.isNaN(s.median)) return '–';
      const m = mark(rows.map((r) => c.note?.(r)).find(Boolean));
      return `${medianRange(c, s)}${m}`;
    }));
  }
  const headers = columns.map((c) => c.header);
  const line = (xs: string[]) => `| ${xs.join(' | ')} |`;
  const sep = `|${columns.map((_, i) => (i === 0 ? ':--' : '--:')).join('|')}|`;
  const foot = notes.map((n, i) => `\n${MARKS[i] ?? '*'} ${n}`).join('');
  return [line(headers), sep, ...cells.map(line)].join('\n') + (foot ? `\n${foot}` : '');
}

// ---------------------------------------------------------------- JSON and --compare

export interface ScenarioResult {
  scenario: string;
  description: string;
  runs: Row[];
  summary: { [key: string]: Spread };
  /** The keys --compare compares for this scenario. */
  compare: string[];
}

export interface BenchResult {
  format: 2;
  date: string;
  command: string;
  commit?: string;
  machine: Machine;
  options: { [k: string]: unknown };
  results: ScenarioResult[];
}

const HEADERS: { [key: string]: { header: string; format: (v: number | string) => string; better: 'higher' | 'lower' } } = {
  linesPerCpuS: { header: 'lines/CPU-s', format: int, better: 'higher' },
  wallS: { header: 'wall s', format: fixed(2), better: 'lower' },
  cpuS: { header: 'CPU s', format: fixed(2), better: 'lower' },
  hostCpuS: { header: 'host CPU s', format: fixed(2), better: 'lower' },
  pluginCpuS: { header: 'plugin CPU s', format: fixed(2), better: 'lower' },
  hostRssMiB: { header: 'host peak RSS MiB', format: fixed(0), better: 'lower' },
  pluginRssMiB: { header: 'plugin peak RSS MiB', format: fixed(0), better: 'lower' },
  visibleP50Ms: { header: 'SIGHUP→visible p50 ms', format: int, better: 'lower' },
  visibleP99Ms: { header: 'SIGHUP→visible p99 ms', format: int, better: 'lower' },
  drainP50Ms: { header: 'drain p50 ms', format: int, better: 'lower' },
  drainP99Ms: { header: 'drain p99 ms', format: int, better: 'lower' },
};

/** An earlier --out file; the first format (`--json` before the fixed method) is read too, from its runs. */
export function readResult(file: string): BenchResult {
  let parsed: any;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BenchError(`--compare ${file}: ${(err as Error).message}; give a file written by --out`);
  }
  if (!Array.isArray(parsed?.results)) throw new BenchError(`--compare ${file}: no "results" in it; give a file written by --out`);
  for (const r of parsed.results) {
    r.summary ??= summarize(r.runs ?? []);
    r.compare ??= [];
  }
  parsed.machine ??= { nproc: parsed.cpus, cpu: 'unknown', node: parsed.node, kernel: 'unknown' };
  return parsed as BenchResult;
}

/** One row per scenario and measure: old median, new median, new/old. */
export function compare(older: BenchResult, newer: BenchResult, file: string): string {
  const out: string[] = [`## compared with ${file}`, ''];
  out.push(`- earlier: ${older.date}, \`${older.command ?? '(command not recorded)'}\`, tree ${older.commit ?? 'unknown'}, ${older.machine.nproc} CPUs, ${older.machine.cpu}, Node ${older.machine.node}`);
  out.push(`- now: ${newer.date}, tree ${newer.commit ?? 'unknown'}`);
  const m0 = older.machine;
  const m1 = newer.machine;
  if (m0.nproc !== m1.nproc || m0.cpu !== m1.cpu || m0.node !== m1.node) out.push('- **the machine or Node differs**: the ratios compare machines as much as code');
  for (const k of ['lines', 'runs', 'handover', 'reloads', 'rate', 'interval']) {
    if (older.options?.[k] !== undefined && older.options[k] !== newer.options[k]) out.push(`- **--${k} differs**: ${String(older.options[k])} then, ${String(newer.options[k])} now`);
  }
  out.push('- new/old of the medians; ▲ better, ▼ worse, by more than 5%', '');
  out.push('| scenario | measure | earlier | now | now/earlier |', '|:--|:--|--:|--:|--:|');
  let rows = 0;
  for (const n of newer.results) {
    const o = older.results.find((r) => r.scenario === n.scenario);
    if (!o) continue;
    for (const key of n.compare) {
      const h = HEADERS[key];
      const a = o.summary[key]?.median;
      const b = n.summary[key]?.median;
      if (!h || a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) continue;
      const ratio = b / a;
      const better = h.better === 'higher' ? ratio > 1.05 : ratio < 1 / 1.05;
      const worse = h.better === 'higher' ? ratio < 1 / 1.05 : ratio > 1.05;
      out.push(`| ${n.scenario} | ${h.header} | ${h.format(a)} | ${h.format(b)} | ${ratio.toFixed(2)}×${better ? ' ▲' : worse ? ' ▼' : ''} |`);
      rows++;
    }
  }
  if (!rows) out.push('| (no scenario in common) | | | | |');
  return out.join('\n');
}
