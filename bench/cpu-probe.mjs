// Preloaded into every Node process of a benchmark run (the host and each
// Node plugin: plugins inherit the host's environment, NODE_OPTIONS
// included) through NODE_OPTIONS=--import, by bench/host.ts. On exit it
// writes the process's own CPU time and peak RSS to
// $SLUICE_BENCH_PROBE_DIR/<pid>.json (the shape is ProbeRecord in
// bench/host.ts). A process killed by a signal it does not handle writes
// nothing; the bench then falls back to "total CPU minus the Node processes
// that reported" for it, and says so.
//
// JavaScript, not TypeScript: a preloaded .ts file makes every process load
// Node's type stripper, which costs each ~15 MiB of RSS and some CPU that
// the process itself would not spend.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** 'host' for sluice itself; for a plugin, the bundled plugin's directory name, else the script's name. */
function roleOf(script) {
  const norm = script.replace(/\\/g, '/');
  if (/(^|\/)host\/cli\/main\.[jt]s$/.test(norm)) return { role: 'host', name: 'sluice' };
  if (/(^|\/)plugins\/[^/]+\/main\.[jt]s$/.test(norm)) return { role: 'plugin', name: basename(dirname(norm)) };
  return { role: 'plugin', name: basename(norm).replace(/\.[cm]?[jt]s$/, '') };
}

/**
 * Peak RSS of this process's own memory, MiB: VmHWM. Not getrusage's
 * maxRSS: Linux keeps that across execve, and libuv spawns by fork, so a
 * child's maxRSS starts at what its parent held when it was spawned (the
 * forward-null bench, whose frames are built before the host starts,
 * reported the bench's own 600+ MiB as the host's).
 */
function peakRssMiB() {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // Not Linux: getrusage's figure, with the caveat above.
  }
  return process.resourceUsage().maxRSS / 1024;
}

const dir = process.env.SLUICE_BENCH_PROBE_DIR;
if (dir) {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    const now = Date.now();
    const record = {
      pid: process.pid,
      ppid: process.ppid,
      ...roleOf(process.argv[1] ?? ''),
      argv: process.argv.slice(1),
      userS: cpu.user / 1e6,
      sysS: cpu.system / 1e6,
      cpuS: (cpu.user + cpu.system) / 1e6,
      maxRssMiB: peakRssMiB(),
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
