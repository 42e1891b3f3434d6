// The SDK's decode and JSON-lines paths alone, outside the pipeline: CPU ns per event
// for a 2 MiB chunk of realistic events, in two body shapes (a tail line
// {log}, and a parsed one {time, level, service, pid, log}):
//   decode           decodeEvents, what chunk.events() does
//   replacer lines   the file plugin before issue 12: decodeEvents, a JSON
//                    line per event with a replacer, joined, Buffer.from
//   toJsonLine       the same with the SDK's toJsonLine
//   toJsonLines      what the file plugin does now: bytes in, Buffer out
// Each figure is the best of 5 rounds of 20 chunks; CPU time includes the
// garbage collector's threads.
// Run: node_modules/.bin/node bench/json-lines.ts
// To compare with an older SDK, run this file from a checkout of it; steps
// it lacks are skipped.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as sdk from '../sdk/src/index.ts';
import { EventTime, decodeEvents, encodeEvents, toJsonLine, type Event, type Record } from '../sdk/src/index.ts';
import { seeded as prng } from '../test/helpers/random.ts';

const CHUNK_BYTES = 2 * 1024 * 1024;
const ROUNDS = 20;
const toJsonLines = (sdk as { toJsonLines?: (data: Uint8Array, dateKey: string) => Buffer }).toJsonLines;

const WORDS = ['request', 'completed', 'upstream', 'cache', 'miss', 'retrying', 'connection', 'reset', 'by', 'peer', 'order', 'timeout'];
const SERVICES = ['checkout-api', 'auth', 'inventory', 'payments', 'search', 'gateway'];

/** About 2 MiB of events; `parsed`: the fields a regex or json parser makes of the line. */
function chunk(parsed: boolean): Buffer {
  const rand = prng(0x51c3);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const events: { body: Record; time: EventTime; metadata: Record }[] = [];
  let bytes = 0;
  for (let ms = Date.UTC(2025, 0, 1); bytes < CHUNK_BYTES; ms += Math.floor(rand() * 20)) {
    const time = new Date(ms).toISOString();
    const service = pick(SERVICES);
    const pid = 1000 + Math.floor(rand() * 9000);
    let log = `request_id=${Math.floor(rand() * 2 ** 48).toString(16)} method=GET path=/api/v1/orders/${Math.floor(rand() * 1e5)} status=200 duration_ms=${(rand() * 500).toFixed(3)} msg="`;
    while (log.length < 150) log += pick(WORDS) + ' ';
    log += '"';
    const body = parsed ? { time, level: 'INFO', service, pid, log } : { log: `${time} INFO ${service}[${pid}]: ${log}` };
    // tail stamps all the lines of a read with one time (here ~200 in a row); a parser gives each line its own.
    events.push({ body, time: EventTime.fromMillis(parsed ? ms : ms - (ms % 2000)), metadata: {} });
    bytes += 230;
  }
  return encodeEvents(events);
}

function replacerLine(e: Event, dateKey: string): string {
  const obj = dateKey ? { [dateKey]: e.time.toNumber(), ...e.body } : e.body;
  return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)) + '\n';
}

/** CPU ns per event of f over ROUNDS calls, after a warm-up; the best of 5 (the machine may be busy). */
function cpuNs(f: () => unknown, events: number): number {
  for (let i = 0; i < 5; i++) f();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) f();
    const t = process.cpuUsage(t0);
    best = Math.min(best, ((t.user + t.system) * 1000) / ROUNDS / events);
  }
  return best;
}

const STEPS: { [name: string]: (data: Buffer) => unknown } = {
  decode: (data) => decodeEvents(data),
  'replacer lines': (data) => {
    let out = '';
    for (const e of decodeEvents(data)) out += replacerLine(e, 'date');
    return Buffer.from(out);
  },
  toJsonLine: (data) => {
    let out = '';
    for (const e of decodeEvents(data)) out += toJsonLine(e, 'date');
    return Buffer.from(out);
  },
  ...(toJsonLines && { toJsonLines: (data: Buffer) => toJsonLines(data, 'date') }),
};

// Each step in a process of its own, which reads the chunk from a file: the
// garbage that making it leaves, or another step leaves, doubles what a step
// costs in some runs and not in others.
const [file, step] = process.argv.slice(2);
if (file && step) {
  const data = readFileSync(file);
  console.log(cpuNs(() => STEPS[step]!(data), decodeEvents(data).length).toFixed(0));
} else {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-json-'));
  try {
    for (const parsed of [false, true]) {
      const data = chunk(parsed);
      const path = join(dir, parsed ? 'parsed' : 'tail');
      writeFileSync(path, data);
      const row: string[] = [parsed ? 'parsed' : 'tail  ', `${decodeEvents(data).length} events, ${(data.length / 2 ** 20).toFixed(1)} MiB`];
      for (const name of Object.keys(STEPS)) {
        row.push(`${name} ${execFileSync(process.execPath, [fileURLToPath(import.meta.url), path, name], { encoding: 'utf8' }).trim()}`);
      }
      console.log(`${row.join(' | ')}  (CPU ns/event)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
