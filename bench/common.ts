// What every part of the bench shares: its options, how a scenario looks,
// and progress on stderr (stdout carries only the results).
export interface Options {
  lines: number;
  runs: number;
  keep: boolean;
  verbose: boolean;
  /** reload scenario: reloads per run. */
  reloads: number;
  /** reload scenario: lines appended per second. */
  rate: number;
  /** reload scenario: seconds between one reload's end and the next SIGHUP. */
  interval: number;
  /** chunk_handover on every output; the key is left out when not given (a host without it refuses it). */
  handover: 'auto' | 'bytes' | undefined;
  /** Run the host from its TypeScript source instead of the built dist/ that npm pack ships. */
  source: boolean;
}

export class BenchError extends Error {}

export type Row = { [column: string]: number | string };

export interface Column {
  key: string;
  header: string;
  format: (v: number | string) => string;
  /**
   * A footnote for this cell, or undefined: the cell gets a mark and the
   * table the note (a value measured another way than the others).
   */
  note?: (row: Row) => string | undefined;
}

export interface Scenario {
  name: string;
  description: string;
  columns: Column[];
  /** The columns compared by --compare (new/old), besides those every throughput scenario has. */
  compare: string[];
  /** Prepares what every run shares (data files, plugin builds); returns one run. */
  setup(opts: Options): Promise<(index: number) => Promise<Row>>;
}

export const int = (v: number | string) => (typeof v === 'number' ? Math.round(v).toLocaleString('en') : v);
export const fixed = (digits: number) => (v: number | string) => (typeof v === 'number' ? v.toFixed(digits) : v);

const tty = process.stderr.isTTY;
export function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}
/** A line that is overwritten in place on a terminal, and not printed otherwise. */
export function status(msg: string): void {
  if (tty) process.stderr.write(`\r\x1b[Kbench: ${msg}`);
}
export function statusDone(): void {
  if (tty) process.stderr.write('\r\x1b[K');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The output keys every scenario adds to its outputs (indented for a list item of pipeline.outputs). */
export function commonOutputKeys(opts: Options): string[] {
  return opts.handover ? [`      chunk_handover: ${opts.handover}`] : [];
}
