// The bench's input: deterministic generated log files, cached in bench/data/.
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { progress, status, statusDone } from './common.ts';
import { seeded as prng } from '../test/helpers/random.ts';

const DATA_DIR = join(import.meta.dirname, 'data');

/** Bump when the line format changes, so cached files are regenerated. */
const DATA_VERSION = 1;
const BLOCK_BYTES = 4 * 1024 * 1024;

/**
 * A file of `lines` log lines of about 200 bytes each (179–219 characters
 * plus the newline, ASCII), the same bytes on every run and machine. Cached
 * in bench/data/ under a name that holds the line count. json: the same
 * lines as JSON objects (time, level, service, pid, log), for a json parser.
 */
export function logFile(lines: number, json = false): string {
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

