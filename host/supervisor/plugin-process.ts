// Starting one plugin process for the host (through the SDK's launcher, as
// the harness does) and forwarding its stderr into the host log.
import { hostname } from 'node:os';
import type { Logger } from '../log.ts';
import { PluginProcess } from '../../sdk/src/launch.ts';
import { PINO_LEVELS } from '../../sdk/src/protocol.ts';

export { PluginProcess, PluginStartError, type Exit } from '../../sdk/src/launch.ts';

export interface PluginCommand {
  /** The plugin name in the config (bundled or from plugins:). */
  name: string;
  argv: string[];
  env: { [k: string]: string };
}

const LEVEL_NAMES = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
/**
 * Keys the host writes on every forwarded line (pino's own, the root logger's
 * base, and what forwardLine adds). A plugin field with one of these names, or
 * with the name of one of the host logger's bindings, goes under `fields`:
 * otherwise pino would write the key twice and readers keep the last one,
 * letting a plugin pose as another output or process.
 */
const HOST_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'module', 'caller', 'plugin_time', 'stderr', 'fields']);
const HOSTNAME = hostname();

interface HostSide {
  reserved: Set<string>;
  pluginPid: unknown;
}
// bindings() parses JSON: once per logger, not once per line.
const hostSides = new WeakMap<Logger, HostSide>();
function hostSide(log: Logger): HostSide {
  let side = hostSides.get(log);
  if (!side) {
    const bindings = log.bindings();
    side = { reserved: new Set([...HOST_KEYS, ...Object.keys(bindings)]), pluginPid: bindings.plugin_pid };
    hostSides.set(log, side);
  }
  return side;
}

function levelName(lv: unknown): string | undefined {
  const name = typeof lv === 'number' ? PINO_LEVELS[lv] : typeof lv === 'string' ? lv.toLowerCase() : undefined;
  return name && LEVEL_NAMES.has(name) ? name : undefined;
}

/**
 * A plugin's stderr line into the host log (docs/protocol.md, "Logging on
 * stderr"). Two JSON shapes are understood:
 * - hclog (go-plugin, any line with `@level` or `@message`): `@level`,
 *   `@message`, `@timestamp`, `@module`, `@caller` are the record; `level`,
 *   `msg`, `pid`, `time`... are then ordinary fields of the plugin's, since
 *   hclog writes the caller's key/value pairs next to its own @-keys.
 * - pino, slog and the like: `level`, `msg`, `time`, `pid`, `hostname`.
 * The plugin's fields stay top-level unless the host uses the name; those go
 * under `fields`. Nothing the plugin writes is dropped unless it only repeats
 * what the host already says (its pid, the host's hostname).
 */
export function forwardLine(log: Logger, line: string): void {
  if (!line.trim()) return;
  if (line.startsWith('{')) {
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      // not JSON after all: forwarded as text below
    }
    if (rec && typeof rec === 'object' && !Array.isArray(rec)) {
      const side = hostSide(log);
      const { level, text, out, plugin } = splitRecord(rec as { [k: string]: unknown }, side);
      const nested: { [k: string]: unknown } = Object.create(null);
      for (const [k, v] of Object.entries(plugin)) {
        if (side.reserved.has(k)) nested[k] = v;
        else out[k] = v;
      }
      if (Object.keys(nested).length) out.fields = nested;
      log[level as 'info'](out, text);
      return;
    }
  }
  log.info({ stderr: true }, line);
}

/** The record's level, message and host-named keys (`out`), and the plugin's own fields. */
function splitRecord(rec: { [k: string]: unknown }, side: HostSide): { level: string; text: string; out: { [k: string]: unknown }; plugin: { [k: string]: unknown } } {
  // No prototype: a plugin field named __proto__ stays a field.
  const out: { [k: string]: unknown } = Object.create(null);
  if ('@level' in rec || '@message' in rec) {
    const { '@level': lv, '@message': msg, '@timestamp': ts, '@module': mod, '@caller': caller, ...plugin } = rec;
    const level = levelName(lv);
    // An unknown level is logged at info and kept, so nothing is lost.
    if (!level && lv !== undefined) plugin['@level'] = lv;
    if (ts !== undefined) out.plugin_time = ts;
    if (mod !== undefined) out.module = mod;
    if (caller !== undefined) out.caller = caller;
    return { level: level ?? 'info', text: typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg), out, plugin };
  }
  const { level: lv, msg, time, pid, hostname: host, ...plugin } = rec;
  const level = levelName(lv);
  if (!level && lv !== undefined) plugin.level = lv;
  if (msg !== undefined && typeof msg !== 'string') plugin.msg = msg;
  if (time !== undefined) out.plugin_time = isoTime(time);
  // pino's pid is the plugin's own pid, which the host already logs as
  // plugin_pid; a different one (a wrapper's child, a worker) is kept.
  if (pid !== undefined && pid !== side.pluginPid) plugin.pid = pid;
  if (host !== undefined && host !== HOSTNAME) plugin.hostname = host;
  return { level: level ?? 'info', text: typeof msg === 'string' ? msg : '', out, plugin };
}

/** pino's epoch milliseconds as an ISO date; anything else as written (toISOString throws on out-of-range dates, and a throw here would take the host down). */
function isoTime(time: unknown): unknown {
  if (typeof time !== 'number') return time;
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? time : d.toISOString();
}

/** Starts a plugin the way docs/protocol.md describes, its stderr going into `log`. */
export async function startPlugin(cmd: PluginCommand, opts: { log: Logger; startTimeoutMs: number; logLevel: string }): Promise<PluginProcess> {
  let log = opts.log;
  const proc = await PluginProcess.start({
    name: cmd.name,
    argv: cmd.argv,
    env: cmd.env,
    startTimeoutMs: opts.startTimeoutMs,
    logLevel: opts.logLevel,
    onSpawn: (pid) => (log = log.child({ plugin_pid: pid })),
    onStderr: (line) => forwardLine(log, line),
    onStdout: (line) => log.warn({ stdout: line.slice(0, 200) }, 'plugin wrote to stdout after its handshake; plugins must log to stderr'),
  });
  void proc.exited.then((e) => e.cleanupError && opts.log.warn(e.cleanupError));
  return proc;
}
