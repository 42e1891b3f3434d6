// Starting one plugin process: spawn in its own process group, read the
// handshake line, forward stderr into the host log, kill the whole group.
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { execa } from 'execa';
import type { Logger } from '../log.ts';
import {
  APP_PROTOCOL_VERSIONS, HOST_STDOUT_FD_ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, parseHandshake, type Handshake,
} from '../../sdk/src/protocol.ts';

export interface PluginCommand {
  /** The plugin name in the config (bundled or from plugins:). */
  name: string;
  argv: string[];
  env: { [k: string]: string };
}

export interface Exit {
  code: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  error?: string;
}

/** A failure to start that is the plugin's fault; the message says what to do. */
export class PluginStartError extends Error {}

const STDERR_TAIL_LINES = 20;
const HANDSHAKE_MAX_BYTES = 4096;
const PINO_LEVELS: { [n: number]: string } = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Calls onLine for every complete line of a stream. */
function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (s: string) => {
    rest += s;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
    if (rest.length > 64 * 1024) {
      onLine(rest);
      rest = '';
    }
  });
  stream.on('end', () => {
    if (rest) onLine(rest);
  });
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

/** Removes a plugin's private directory; a failure is logged, never thrown (it would crash the host). */
function removeDir(dir: string, log: Logger): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    log.warn({ dir, err: (err as Error).message }, 'cannot remove the plugin\'s private directory; delete it by hand');
  }
}

export class PluginProcess {
  readonly pid: number;
  readonly handshake: Handshake;
  readonly exited: Promise<Exit>;
  private readonly socketDir: string;
  private constructor(pid: number, handshake: Handshake, exited: Promise<Exit>, socketDir: string) {
    this.pid = pid;
    this.handshake = handshake;
    this.exited = exited;
    this.socketDir = socketDir;
  }

  /** Signals the plugin's whole process group. */
  kill(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  static async start(cmd: PluginCommand, opts: { log: Logger; startTimeoutMs: number; logLevel: string }): Promise<PluginProcess> {
    const socketDir = mkdtempSync(join(tmpdir(), 'sluice-'));
    const [file, ...args] = cmd.argv as [string, ...string[]];
    // A `#!/usr/bin/env node` plugin runs on the host's own Node.
    const path = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
    const child = execa(file, args, {
      detached: true,
      cleanup: false,
      reject: false,
      buffer: false,
      stdio: ['pipe', 'pipe', 'pipe', 1],
      env: {
        PATH: path,
        ...cmd.env,
        [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
        PLUGIN_PROTOCOL_VERSIONS: APP_PROTOCOL_VERSIONS.join(','),
        PLUGIN_UNIX_SOCKET_DIR: socketDir,
        // go-plugin 1.0.1 ignores PLUGIN_UNIX_SOCKET_DIR and makes its socket
        // in $TMPDIR; pointing TMPDIR here too means whatever a plugin leaves
        // behind (even when SIGKILLed) goes when the directory goes.
        TMPDIR: socketDir,
        [HOST_STDOUT_FD_ENV]: '3',
        SLUICE_LOG_LEVEL: opts.logLevel,
      },
    });
    // The directory is removed before `exited` resolves, so whoever waits
    // for the exit (a stopping host about to call process.exit) never
    // outruns the cleanup.
    const exited: Promise<Exit> = child
      .then(
        (r): Exit => ({ code: r.exitCode, signal: r.signal, ...(r.failed && r.exitCode === undefined && !r.signal ? { error: r.originalMessage || r.shortMessage } : {}) }),
        (err: Error): Exit => ({ code: undefined, signal: undefined, error: err.message }),
      )
      .then((e) => {
        removeDir(socketDir, opts.log);
        return e;
      });
    const stderrTail: string[] = [];
    let log = opts.log;
    if (child.pid !== undefined) log = log.child({ plugin_pid: child.pid });
    eachLine(child.stderr!, (line) => {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      forwardLine(log, line);
    });

    const tail = () => (stderrTail.length ? `; its last stderr lines:\n  ${stderrTail.join('\n  ')}` : '; it wrote nothing to stderr');
    const handshake = await new Promise<Handshake>((resolve, reject) => {
      let buf = '';
      let settled = false;
      const fail = (msg: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        reject(new PluginStartError(msg));
      };
      const timer = setTimeout(
        () => fail(`plugin "${cmd.name}" (${cmd.argv.join(' ')}) printed no handshake within ${opts.startTimeoutMs / 1000}s; raise start_timeout if it is just slow${tail()}`),
        opts.startTimeoutMs,
      );
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (s: string) => {
        if (settled) {
          for (const line of s.split('\n')) if (line.trim()) log.warn({ stdout: line.slice(0, 200) }, 'plugin wrote to stdout after its handshake; plugins must log to stderr');
          return;
        }
        buf += s;
        const nl = buf.indexOf('\n');
        if (nl < 0 && buf.length < HANDSHAKE_MAX_BYTES) return;
        const line = nl < 0 ? buf : buf.slice(0, nl);
        try {
          const hs = parseHandshake(line);
          settled = true;
          clearTimeout(timer);
          resolve(hs);
        } catch (err) {
          fail(
            `plugin "${cmd.name}" printed something that is not a sluice handshake on stdout (${(err as Error).message}); ` +
              `first bytes: ${JSON.stringify(buf.slice(0, 200))}. A plugin must print only "1|1|unix|<socket>|grpc" on stdout and log to stderr`,
          );
        }
      });
      void exited.then(async (e) => {
        // Let the last stderr lines arrive before quoting them.
        await new Promise((r) => setImmediate(r));
        if (e.error) fail(`cannot start plugin "${cmd.name}" (${cmd.argv.join(' ')}): ${e.error}; check the command path and that the file is executable`);
        else fail(`plugin "${cmd.name}" exited before its handshake (${e.signal ? `signal ${e.signal}` : `exit code ${e.code}`})${tail()}`);
      });
    });
    return new PluginProcess(child.pid!, handshake, exited, socketDir);
  }
}
