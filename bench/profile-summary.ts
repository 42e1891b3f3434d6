// Sums a V8 CPU profile's self time by function (or by file), for reading a
// bench run's profile without DevTools:
//
//   NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' node bench/run.ts --scenario tail-json-null
//   node bench/profile-summary.ts [--top N] [--by function|file] /tmp/prof/*.cpuprofile
//
// Every process of the run (bench, host, plugins) writes its own profile;
// each file is summarised on its own, biggest first, and its first line
// names the busiest file outside node_modules, so the host's is easy to find.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface Profile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, by: { type: 'string', default: 'function' } },
});
if (!positionals.length || (values.by !== 'function' && values.by !== 'file')) {
  console.error('usage: node bench/profile-summary.ts [--top N] [--by function|file] FILE.cpuprofile...');
  process.exit(2);
}
const top = Number(values.top);

const where = (url: string): string => {
  if (!url) return '';
  const path = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url;
  return path.replace(/^(\.\.\/)+.*node_modules\//, 'node_modules/');
};

function summarise(file: string): { total: number; text: string } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  const own = new Map<string, number>();
  // A sample's self time is the time until the next sample (as DevTools counts it); the last one gets the profile's end.
  for (let i = 0; i < p.samples.length; i++) {
    const f = frames.get(p.samples[i]!)!;
    const us = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1]! : 0;
    const url = where(f.url);
    if (f.url.startsWith('file://') && !url.includes('node_modules/')) own.set(url, (own.get(url) ?? 0) + us);
    const key = values.by === 'file' ? url || f.functionName : `${f.functionName || '(anonymous)'}${url ? `  ${url}:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const busy = total - (self.get('(idle)') ?? 0);
  const main = [...own].sort((a, b) => b[1] - a[1])[0]?.[0];
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = [
    `${file}: ${(total / 1e3).toFixed(0)} ms sampled, ${(busy / 1e3).toFixed(0)} ms not idle; busiest own file: ${main ?? '?'}`,
    '    self ms  % busy  ' + (values.by === 'file' ? 'file' : 'function  file:line'),
    ...rows.map(([k, us]) => `${(us / 1e3).toFixed(1).padStart(11)}  ${(k === '(idle)' ? '' : ((100 * us) / busy).toFixed(1)).padStart(6)}  ${k}`),
  ];
  return { total: busy, text: lines.join('\n') };
}

const out = positionals.map(summarise).sort((a, b) => b.total - a.total);
console.log(out.map((o) => o.text).join('\n\n'));
