import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/** Appends lines "<prefix>-<n padded>" + padding, n in [from, to). */
export function appendNumbered(file: string, prefix: string, from: number, to: number, pad = 60): void {
  const filler = 'x'.repeat(pad);
  let s = '';
  for (let i = from; i < to; i++) s += `${prefix}-${String(i).padStart(7, '0')} ${filler}\n`;
  appendFileSync(file, s);
}

export interface Delivered {
  /** Every (prefix, n) seen, in output order, per prefix. */
  byPrefix: Map<string, number[]>;
  total: number;
}

/** Reads the file plugin's JSON lines and groups the numbered lines by prefix. */
export function readDelivered(file: string, key = 'log'): Delivered {
  const byPrefix = new Map<string, number[]>();
  if (!existsSync(file)) return { byPrefix, total: 0 };
  let total = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const rec = JSON.parse(line);
    const m = /^(\S+)-(\d{7}) /.exec(rec[key]);
    if (!m) throw new Error(`unexpected line in output: ${line.slice(0, 120)}`);
    let list = byPrefix.get(m[1]!);
    if (!list) byPrefix.set(m[1]!, (list = []));
    list.push(Number(m[2]));
    total++;
  }
  return { byPrefix, total };
}

export function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const b = readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}
