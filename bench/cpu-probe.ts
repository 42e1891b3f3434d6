// Preloaded into every Node process of a benchmark run (the host and each
// Node plugin: plugins inherit the host's environment, NODE_OPTIONS
// included) through NODE_OPTIONS=--import, by bench/run.ts. On exit it
// writes the process's own CPU time and peak RSS to
// $SLUICE_BENCH_PROBE_DIR/<pid>.json. A process killed by a signal it does
// not handle writes nothing; the bench then falls back to "total CPU minus
// the Node processes that reported" for it, and says so.
import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface ProbeRecord {
  pid: number;
  ppid: number;
  /** 'host' for sluice itself, 'plugin' for anything else (a plugin the host started). */
  role: 'host' | 'plugin';
  /** The bundled plugin's directory name (plugins/<name>/main.ts), else the script's name without extension. */
  name: string;
  /** What Node ran after its own flags (argv[1] on). */
  argv: string[];
  userS: number;
  sysS: number;
  /** userS + sysS: this process, all its threads. */
  cpuS: number;
  maxRssMiB: number;
  /** Date.now() at start (from process.uptime()) and at exit. */
  startedAt: number;
  exitedAt: number;
}

export function roleOf(script: string): Pick<ProbeRecord, 'role' | 'name'> {
  const norm = script.replace(/\\/g, '/');
  if (/(^|\/)host\/cli\/main\.[jt]s$/.test(norm)) return { role: 'host', name: 'sluice' };
  if (/(^|\/)plugins\/[^/]+\/main\.[jt]s$/.test(norm)) return { role: 'plugin', name: basename(dirname(norm)) };
  return { role: 'plugin', name: basename(norm).replace(/\.[cm]?[jt]s$/, '') };
}

const dir = process.env.SLUICE_BENCH_PROBE_DIR;
if (dir) {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    const now = Date.now();
    const record: ProbeRecord = {
      pid: process.pid,
      ppid: process.ppid,
      ...roleOf(process.argv[1] ?? ''),
      argv: process.argv.slice(1),
      userS: cpu.user / 1e6,
      sysS: cpu.system / 1e6,
      cpuS: (cpu.user + cpu.system) / 1e6,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      startedAt: now - process.uptime() * 1000,
      exitedAt: now,
    };
    try {
      writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(record));
    } catch {
      // The bench may already have removed the directory; nothing to report to.
    }
  });
}
