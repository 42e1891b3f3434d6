// Starting one plugin process: spawn in its own process group, read the
// handshake line, forward stderr into the host log, kill the whole group.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { execa } from 'execa';
import type { Logger } from '../log.ts';
import {
  APP_PROTOCOL_VERSIONS, HOST_STDOUT_FD_ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, parseHandshake, type Handshake,
} from '../../sdk/protocol.ts';

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

/** A plugin's stderr line into the host log: JSON lines keep their level and fields. */
export function forwardLine(log: Logger, line: string): void {
  if (!line.trim()) return;
  if (line.startsWith('{')) {
    try {
      const rec = JSON.parse(line);
      if (rec && typeof rec === 'object') {
        const { level, msg, time: _t, hostname: _h, pid: _p, '@level': hcLevel, '@message': hcMsg, '@timestamp': _ts, ...fields } = rec;
        // pino's numeric or named levels, and hclog's @level/@message (go-plugin).
        const lv = level ?? hcLevel;
        const name = typeof lv === 'number' ? PINO_LEVELS[lv] : typeof lv === 'string' ? lv.toLowerCase() : undefined;
        const fn = name && name in PINO_LEVEL_SET ? name : 'info';
        const text = typeof msg === 'string' ? msg : typeof hcMsg === 'string' ? hcMsg : '';
        (log as any)[fn](fields, text);
        return;
      }
    } catch {
      // not JSON after all: forwarded as text below
    }
  }
  log.info({ stderr: true }, line);
}
const PINO_LEVEL_SET = { trace: 1, debug: 1, info: 1, warn: 1, error: 1, fatal: 1 };

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
        [HOST_STDOUT_FD_ENV]: '3',
        SLUICE_LOG_LEVEL: opts.logLevel,
      },
    });
    const exited: Promise<Exit> = child.then(
      (r) => ({ code: r.exitCode, signal: r.signal, ...(r.failed && r.exitCode === undefined && !r.signal ? { error: r.originalMessage || r.shortMessage } : {}) }),
      (err: Error) => ({ code: undefined, signal: undefined, error: err.message }),
    );
    void exited.then(() => rmSync(socketDir, { recursive: true, force: true }));
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
