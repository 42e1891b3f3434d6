// Preloaded into every Node process of a benchmark run (host and Node
// plugins) through NODE_OPTIONS=--import, by bench/run.ts. On exit it writes
// the process's own CPU time and peak RSS to $SLUICE_BENCH_PROBE_DIR/<pid>.json,
// so the bench can split the total CPU into the host's share and the rest
// (the plugins). A process killed by a signal it does not handle writes
// nothing, which is why the bench relies only on the host's record.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProbeRecord {
  pid: number;
  ppid: number;
  /** The script Node ran (argv[1]). */
  script: string;
  /** User + system CPU of this process, all its threads, in seconds. */
  cpuS: number;
  maxRssMiB: number;
  /** Date.now() at exit. */
  exitedAt: number;
}

const dir = process.env.SLUICE_BENCH_PROBE_DIR;
if (dir) {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    const record: ProbeRecord = {
      pid: process.pid,
      ppid: process.ppid,
      script: process.argv[1] ?? '',
      cpuS: (cpu.user + cpu.system) / 1e6,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      exitedAt: Date.now(),
    };
    try {
      writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(record));
    } catch {
      // The bench may already have removed the directory; nothing to report to.
    }
  });
}
