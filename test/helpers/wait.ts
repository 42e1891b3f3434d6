// Waiting that holds on a busy machine: a wait fails when nothing has moved
// for a while (a stall), never because the whole is merely slow; a cap still
// bounds it, so a broken test ends instead of hanging the suite.
import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

/** Long enough to outlast a plugin that lingers 10 s, or a process starved of CPU by a busy machine. */
export const STALL_MS = 30_000;
/** Long enough for any wait in the suite under stress, short enough that a hung test still ends in minutes. */
export const CAP_MS = 300_000;

export interface Patience {
  /** Fail when nothing has moved for this long. */
  stallMs?: number;
  /** Fail after this long even while things move (a livelock, a busy loop). */
  capMs?: number;
  everyMs?: number;
  /** A progress measure (lines delivered, bytes written, a metric read over HTTP...): any change of its value counts as moving. */
  progress?: () => unknown | Promise<unknown>;
  /** Processes whose CPU use, with their descendants', counts as moving; default: every sluice this test runs. */
  pids?: () => Iterable<number>;
}

/** The sluice processes of this test file that have not exited; Sluice keeps it. */
export const running = new Set<number>();

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until fn returns a truthy value; throws on a stall or at the cap. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, p: Patience = {}): Promise<NonNullable<T>> {
  const { stallMs = STALL_MS, capMs = CAP_MS, everyMs = 50 } = p;
  const moved = tracker(p.progress, p.pids ?? (() => running));
  const start = Date.now();
  let lastMove = start;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = undefined;
    } catch (err) {
      last = err;
    }
    const now = Date.now();
    if (await moved(now)) lastMove = now;
    const why = now - start > capMs ? `gave up after ${capMs} ms` : now - lastMove > stallMs ? `nothing moved for ${now - lastMove} ms` : '';
    if (why) throw new Error(`${why} waiting for ${what}${p.progress ? ` (progress: ${JSON.stringify(p.progress())})` : ''}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await pause(everyMs);
  }
}

// Sampling /proc costs a scan of every process: once a second is plenty for a stall measured in seconds.
const SAMPLE_MS = 1000;
// An idle node process (timers, health checks) uses well under 1% of a CPU; one at work, even on a
// crowded machine, gets far more. 2 ticks (20 ms) in a ~1 s sample separates the two.
const BUSY_TICKS = 2;

/** Returns a function telling whether anything moved since its last sample. */
function tracker(progress: Patience['progress'], pids: () => Iterable<number>): (now: number) => Promise<boolean> {
  let sampledAt = 0;
  let value: unknown;
  let ticks = 0;
  return async (now) => {
    if (now - sampledAt < SAMPLE_MS) return false;
    const first = sampledAt === 0;
    sampledAt = now;
    const v = await progress?.();
    const { ticks: t, runnable } = cpu([...pids()]);
    const moved = !first && (!isDeepStrictEqual(v, value) || t - ticks >= BUSY_TICKS || runnable);
    value = v;
    ticks = t;
    return moved;
  };
}

/**
 * CPU time, in clock ticks, used so far by these processes and their descendants (live or reaped),
 * and whether one of them is runnable: "still working" even when nothing visible moves, and
 * "starved, not stuck" on a crowded machine. Plugins are children of the host.
 */
export function cpu(roots: number[]): { ticks: number; runnable: boolean } {
  if (roots.length === 0) return { ticks: 0, runnable: false };
  const procs = new Map<number, { ppid: number; ticks: number; state: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // After "pid (comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17), counting from 1.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { state: f[0]!, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // exited between readdir and read
    }
  }
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of procs) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let ticks = 0;
  let runnable = false;
  const todo = [...roots];
  for (let pid; (pid = todo.pop()) !== undefined;) {
    ticks += procs.get(pid)?.ticks ?? 0;
    runnable ||= procs.get(pid)?.state === 'R';
    todo.push(...(children.get(pid) ?? []));
  }
  return { ticks, runnable };
}
