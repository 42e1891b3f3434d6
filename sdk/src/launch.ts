// Starting one plugin process as a sluice host does (docs/protocol.md §2, §3):
// own process group, the cookie and versions in the environment, a private
// socket directory, the handshake line read from stdout. The host's
// supervisor and the harness both start plugins through here, so a plugin
// that passes its harness tests starts the same way under sluice.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  APP_PROTOCOL_VERSIONS, HOST_STDOUT_FD_ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, parseHandshake, type Handshake,
} from './protocol.ts';

export interface LaunchOptions {
  /** The plugin's name, for messages. */
  name: string;
  /** The command and its arguments. */
  argv: string[];
  /** Added to the environment; the protocol's own variables win over it. */
  env?: { [k: string]: string };
  /** How long the handshake may take. */
  startTimeoutMs: number;
  /** PLUGIN_PROTOCOL_VERSIONS; the handshake must pick one of them. */
  versions?: number[];
  /** SLUICE_LOG_LEVEL. */
  logLevel?: string;
  /** What fd 3 (SLUICE_HOST_STDOUT_FD) is: this process's stdout (the host), or a pipe to read (`hostStdout`). */
  hostStdout?: 'inherit' | 'pipe';
  /** Called once the process exists, before any of its output is read. */
  onSpawn?: (pid: number) => void;
  /** Every stderr line (a line over 64 KiB is split). */
  onStderr?: (line: string) => void;
  /** Every line on stdout after the handshake, which the protocol forbids. */
  onStdout?: (line: string) => void;
}

export interface Exit {
  code: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  error?: string;
  /** Set when its private directory could not be removed. */
  cleanupError?: string;
}

/** A failure to start that is the plugin's fault; the message says what to do. */
export class PluginStartError extends Error {}

const STDERR_TAIL_LINES = 20;
const HANDSHAKE_MAX_BYTES = 4096;
const MAX_LINE = 64 * 1024;

/** Calls onLine for every complete line of a stream, splitting lines over 64 KiB. */
export function eachLine(stream: Readable, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (s: string) => {
    rest += s;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
    if (rest.length > MAX_LINE) {
      onLine(rest);
      rest = '';
    }
  });
  stream.on('end', () => {
    if (rest) onLine(rest);
  });
}

/** The protocol's environment for one start (docs/protocol.md §2). */
export function pluginEnv(o: LaunchOptions, socketDir: string): NodeJS.ProcessEnv {
  // A `#!/usr/bin/env node` plugin runs on the starting process's own Node.
  const path = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: path,
    ...o.env,
    [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
    PLUGIN_PROTOCOL_VERSIONS: (o.versions ?? APP_PROTOCOL_VERSIONS).join(','),
    PLUGIN_UNIX_SOCKET_DIR: socketDir,
    // go-plugin 1.0.1 ignores PLUGIN_UNIX_SOCKET_DIR and makes its socket in
    // $TMPDIR; pointing TMPDIR here too means whatever a plugin leaves behind
    // (even when SIGKILLed) goes when the directory goes.
    TMPDIR: socketDir,
    [HOST_STDOUT_FD_ENV]: '3',
    SLUICE_LOG_LEVEL: o.logLevel ?? 'info',
  };
  return env;
}

export class PluginProcess {
  readonly pid: number;
  readonly handshake: Handshake;
  /** Resolves once the process has exited and its private directory is gone. */
  readonly exited: Promise<Exit>;
  /** fd 3, when started with `hostStdout: 'pipe'`. */
  readonly hostStdout: Readable | undefined;
  /** The private directory given as PLUGIN_UNIX_SOCKET_DIR (and TMPDIR); removed once the process has exited. */
  readonly socketDir: string;
  private readonly stdin: NodeJS.WritableStream;

  private constructor(pid: number, handshake: Handshake, exited: Promise<Exit>, stdin: NodeJS.WritableStream, hostStdout: Readable | undefined, socketDir: string) {
    this.pid = pid;
    this.handshake = handshake;
    this.exited = exited;
    this.stdin = stdin;
    this.hostStdout = hostStdout;
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

  /** What a plugin sees when its host dies: end of file on stdin. */
  closeStdin(): void {
    this.stdin.end();
  }

  static async start(o: LaunchOptions): Promise<PluginProcess> {
    const socketDir = mkdtempSync(join(tmpdir(), 'sluice-'));
    const [file, ...args] = o.argv as [string, ...string[]];
    let child;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe', o.hostStdout === 'pipe' ? 'pipe' : 1],
        env: pluginEnv(o, socketDir),
      });
    } catch (err) {
      // spawn throws synchronously for some bad arguments (a NUL in a path, say).
      rmSync(socketDir, { recursive: true, force: true });
      throw new PluginStartError(`cannot start plugin "${o.name}" (${o.argv.join(' ')}): ${(err as Error).message}`);
    }
    if (child.pid !== undefined) o.onSpawn?.(child.pid);
    // sluice never writes to stdin; a plugin that closes it must not crash us.
    child.stdin!.on('error', () => {});
    // The directory is removed before `exited` resolves, so whoever waits for
    // the exit (a stopping host about to call process.exit) never outruns
    // the cleanup.
    const exited = new Promise<Exit>((resolve) => {
      child.once('error', (err) => {
        if (child.pid === undefined) resolve({ code: undefined, signal: undefined, error: err.message });
      });
      // 'close', not 'exit': the last stderr lines have been read by then.
      child.once('close', (code, signal) => resolve({ code: code ?? undefined, signal: signal ?? undefined }));
    }).then((e) => {
      try {
        rmSync(socketDir, { recursive: true, force: true, maxRetries: 3 });
      } catch (err) {
        return { ...e, cleanupError: `cannot remove the plugin's private directory ${socketDir} (${(err as Error).message}); delete it by hand` };
      }
      return e;
    });

    const stderrTail: string[] = [];
    eachLine(child.stderr!, (line) => {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      o.onStderr?.(line);
    });
    const hostStdout = o.hostStdout === 'pipe' ? (child.stdio[3] as Readable) : undefined;

    const cmd = `plugin "${o.name}" (${o.argv.join(' ')})`;
    const plugin = `plugin "${o.name}"`;
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
        () => fail(`${cmd} printed no handshake within ${o.startTimeoutMs / 1000}s; raise start_timeout if it is just slow${tail()}`),
        o.startTimeoutMs,
      );
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (s: string) => {
        if (settled) {
          for (const line of s.split('\n')) if (line.trim()) o.onStdout?.(line);
          return;
        }
        buf += s;
        const nl = buf.indexOf('\n');
        if (nl < 0 && buf.length < HANDSHAKE_MAX_BYTES) return;
        const line = nl < 0 ? buf : buf.slice(0, nl);
        try {
          const hs = parseHandshake(line, o.versions);
          settled = true;
          clearTimeout(timer);
          resolve(hs);
          // Whatever came after the handshake line in the same read.
          for (const extra of buf.slice(nl + 1).split('\n')) if (extra.trim()) o.onStdout?.(extra);
        } catch (err) {
          fail(
            `${plugin} printed something that is not a sluice handshake on stdout (${(err as Error).message}); ` +
              `first bytes: ${JSON.stringify(buf.slice(0, 200))}. A plugin must print only "1|2|unix|<socket>|grpc" on stdout and log to stderr`,
          );
        }
      });
      void exited.then(async (e) => {
        // Let the last stderr lines arrive before quoting them.
        await new Promise((r) => setImmediate(r));
        if (e.error) fail(`cannot start ${cmd}: ${e.error}; check the command path and that the file is executable`);
        else fail(`${plugin} exited before its handshake (${e.signal ? `signal ${e.signal}` : `exit code ${e.code}`})${hint(stderrTail)}${tail()}`);
      });
    });
    return new PluginProcess(child.pid!, handshake, exited, child.stdin!, hostStdout, socketDir);
  }
}

/** What to do about the mistakes every new plugin author makes once. */
function hint(stderr: string[]): string {
  const text = stderr.join('\n');
  if (text.includes('Cannot use import statement outside a module')) {
    return '. The plugin is an ES module in a CommonJS package: add "type": "module" to its package.json, or name the file .mjs';
  }
  if (text.includes('ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING')) {
    return '. Node does not run TypeScript from node_modules: publish the plugin built to JavaScript (npm run build) and point its command at the .js file';
  }
  return '';
}
