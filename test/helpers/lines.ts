import { appendFileSync, closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

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

// Tests poll outputs of tens of MB every few ms: reading only what was appended since the last
// call keeps the test process from taking the CPU that the sluice under test needs.
const counted = new Map<string, { bytes: number; lines: number }>();
const b = Buffer.allocUnsafe(1 << 20);

/**
 * Newlines in a file that only grows, except that a partial last line may be cut (the file
 * plugin does that after a crash): counting stops after the last newline seen, so a cut never
 * touches what was counted.
 */
export function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let c = counted.get(file);
    if (!c || size < c.bytes) c = { bytes: 0, lines: 0 };
    for (let at = c.bytes, n; at < size && (n = readSync(fd, b, 0, Math.min(b.length, size - at), at)) > 0; at += n) {
      const chunk = b.subarray(0, n);
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
        c.lines++;
        c.bytes = at + i + 1;
      }
    }
    counted.set(file, c);
    return c.lines;
  } finally {
    closeSync(fd);
  }
}
