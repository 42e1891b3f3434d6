// A real Kafka-protocol broker for tests: librdkafka's mock cluster, run by
// test/kafka/mock-cluster.c (see test/kafka/README.md), and kcat to produce,
// consume and read metadata. Needs gcc, librdkafka-dev and kcat
// (scripts/test-deps.sh installs them).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import { mockClusterBinary } from '../kafka/mock-binary.ts';
import { waitFor } from './wait.ts';

export { mockClusterBinary };

export interface MockClusterOptions {
  /** Brokers, ids 1..brokers; default 3. */
  brokers?: number;
  /** Topics created before startMockCluster resolves (others are created on first use, with 4 partitions). */
  topics?: { name: string; partitions?: number; replication?: number }[];
}

export interface MockCluster {
  /** HOST:PORT of every broker, comma-separated, broker 1 first. */
  readonly bootstrap: string;
  readonly brokers: number;
  readonly pid: number;
  /** Sends one command line (see test/kafka/README.md); resolves with what follows "ok" ('' for a bare "ok"), rejects on "error ...". */
  command(line: string): Promise<string>;
  down(broker: number): Promise<void>;
  up(broker: number): Promise<void>;
  rtt(broker: number, ms: number): Promise<void>;
  /** What the helper wrote on stderr (librdkafka warnings), for diagnostics. */
  stderr(): string;
  /** Closes the helper's stdin (it destroys the cluster and exits); kills it if it does not. */
  stop(): Promise<void>;
}

const clusters = new Set<{ child: ChildProcess; stop: () => Promise<void> }>();

// A test that fails before it stops its cluster must not leave the helper behind: stop them all
// when the file's tests end, and kill them if this process exits some other way. (The helper also
// exits on its own when this process dies: its stdin closes.)
after(async () => {
  await Promise.all([...clusters].map((c) => c.stop()));
});
process.on('exit', () => {
  for (const c of clusters) c.child.kill('SIGKILL');
});

export async function startMockCluster(opts: MockClusterOptions = {}): Promise<MockCluster> {
  const brokers = opts.brokers ?? 3;
  const child = spawn(await mockClusterBinary(), [String(brokers)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot spawn the mock cluster helper');
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });
  let exited: string | undefined;
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  child.on('close', (code, signal) => {
    exited = `the mock cluster helper exited (${code ?? signal}); stderr:\n${stderr.slice(-4000)}`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
    clusters.delete(entry);
  });
  child.on('error', (err) => {
    exited ??= `the mock cluster helper failed: ${err.message}`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
  });
  child.stdin!.on('error', () => {}); // EPIPE after it died: reported by 'close'

  /** The next line it prints; fails if it exits, or stalls (no CPU used) for long. */
  const nextLine = async (what: string): Promise<string> => {
    if (exited) throw new Error(exited);
    let done = false;
    const line = new Promise<string>((resolve, reject) => waiting.push({ resolve, reject })).finally(() => (done = true));
    await Promise.race([line, waitFor(() => done, what, { pids: () => [pid] })]);
    return line;
  };

  let last: Promise<unknown> = Promise.resolve();
  const command = (cmd: string): Promise<string> => {
    if (/[\r\n]/.test(cmd)) return Promise.reject(new Error(`a command is one line: ${JSON.stringify(cmd)}`));
    const run = last.catch(() => {}).then(async () => {
      const answer = nextLine(`the mock cluster to answer "${cmd}"`);
      child.stdin!.write(`${cmd}\n`);
      const line = await answer;
      if (line === 'ok') return '';
      if (line.startsWith('ok ')) return line.slice(3);
      throw new Error(`mock cluster: "${cmd}": ${line.startsWith('error ') ? line.slice(6) : `unexpected answer ${JSON.stringify(line)}`}`);
    });
    last = run;
    return run;
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('close', () => r()));
      child.stdin!.end();
      try {
        await Promise.race([gone, waitFor(() => exited, 'the mock cluster helper to exit', { pids: () => [pid] })]);
      } catch {
        child.kill('SIGKILL');
        await gone;
      }
    })());
  const entry = { child, stop };
  clusters.add(entry);

  try {
    const first = await nextLine('the mock cluster to start');
    const m = /^bootstrap (\S+)$/.exec(first);
    if (!m) throw new Error(`mock cluster: expected "bootstrap HOST:PORT,...", got ${JSON.stringify(first)}`);
    const cluster: MockCluster = {
      bootstrap: m[1]!,
      brokers,
      pid,
      command,
      down: async (b) => void (await command(`down ${b}`)),
      up: async (b) => void (await command(`up ${b}`)),
      rtt: async (b, ms) => void (await command(`rtt ${b} ${ms}`)),
      stderr: () => stderr,
      stop,
    };
    for (const t of opts.topics ?? []) {
      await command(['topic', t.name, t.partitions ?? 8, ...(t.replication ? [t.replication] : [])].join(' '));
    }
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- kcat ----------------------------------------------------------------

export interface KcatResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs kcat to its end. Fails if it stalls (no output and no CPU for the
 * stall time of test/helpers/wait.ts), never merely because it is slow.
 * With onStdout, stdout is streamed to it instead of being collected.
 */
export function runKcat(args: string[], opts: { onStdout?: (chunk: Buffer) => void } = {}): Promise<KcatResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let bytes = 0;
    let closed = false;
    child.stdout!.on('data', (b: Buffer) => {
      bytes += b.length;
      if (opts.onStdout) opts.onStdout(b);
      else out.push(b);
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      bytes += s.length;
      stderr += s;
    });
    child.on('error', (err) => {
      closed = true;
      reject(new Error(`kcat ${args.join(' ')}: ${err.message} (is kcat installed? scripts/test-deps.sh)`));
    });
    child.on('close', (code, signal) => {
      closed = true;
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    const pid = child.pid;
    if (pid === undefined) return;
    waitFor(() => closed, `kcat ${args.join(' ')}`, { pids: () => [pid], progress: () => bytes }).catch((err: Error) => {
      child.kill('SIGKILL');
      reject(new Error(`${err.message}; stderr:\n${stderr.slice(-4000)}`));
    });
  });
}

function check(args: string[], r: KcatResult): KcatResult {
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} failed (${r.code ?? r.signal}); stderr:\n${r.stderr.slice(-4000)}`);
  return r;
}

export interface KafkaMessage {
  topic: string;
  partition: number;
  offset: number;
  /** The broker it was fetched from. */
  broker: number;
  key: string | null;
  payload: string | null;
  /** Headers by name; the last one wins when a name repeats (headerList keeps them all). */
  headers: { [k: string]: string };
  headerList: [string, string | null][];
}

/** A message as bytes (consume with raw: true). kcat cannot give headers in this mode. */
export interface RawKafkaMessage {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  payload: Buffer | null;
}

export interface ConsumeOptions {
  /** One partition only; default all. */
  partition?: number;
  /** kcat -o: beginning (default), end, an offset, -N... */
  offset?: string;
  /** More kcat arguments (-X prop=val, -d protocol...). */
  extraArgs?: string[];
}

/**
 * Every message of a topic from the start (kcat -C -e), streamed and parsed as
 * it comes, so topics of 100k+ messages are fine; with stderr, for tests that
 * read kcat's debug output. Payloads and keys come as strings (kcat -J): bytes
 * that are not UTF-8 are lost; use raw: true for bytes.
 */
export async function consume(bootstrap: string, topic: string, opts?: ConsumeOptions & { raw?: false }): Promise<{ messages: KafkaMessage[]; stderr: string }>;
export async function consume(bootstrap: string, topic: string, opts: ConsumeOptions & { raw: true }): Promise<{ messages: RawKafkaMessage[]; stderr: string }>;
export async function consume(bootstrap: string, topic: string, opts: ConsumeOptions & { raw?: boolean } = {}): Promise<{ messages: KafkaMessage[] | RawKafkaMessage[]; stderr: string }> {
  // -e ends at the first fetch that finds nothing new, which the broker holds for fetch.wait.max.ms (500 by default).
  const args = ['-C', '-b', bootstrap, '-t', topic, '-e', '-q', '-o', opts.offset ?? 'beginning', '-X', 'fetch.wait.max.ms=20'];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  args.push(...(opts.extraArgs ?? []));
  if (opts.raw) {
    const parser = rawParser(topic);
    // Partition, offset, key length and payload length (-1: null) on a line, then the key's and the payload's bytes.
    const r = check(args, await runKcat([...args, '-f', '%p %o %K %S\\n%k%s'], { onStdout: parser.push }));
    return { messages: parser.end(), stderr: r.stderr };
  }
  const messages: KafkaMessage[] = [];
  let rest = '';
  let bad: Error | undefined;
  const decoder = new TextDecoder();
  const onLine = (line: string) => {
    if (!line || bad) return;
    try {
      const j = JSON.parse(line) as { topic: string; partition: number; offset: number; broker: number; key: string | null; payload: string | null; headers?: (string | null)[] };
      const headerList: [string, string | null][] = [];
      for (let i = 0; i + 1 < (j.headers?.length ?? 0); i += 2) headerList.push([String(j.headers![i]), j.headers![i + 1] ?? null]);
      const headers: { [k: string]: string } = {};
      for (const [k, v] of headerList) if (v !== null) headers[k] = v;
      messages.push({ topic: j.topic, partition: j.partition, offset: j.offset, broker: j.broker, key: j.key, payload: j.payload, headers, headerList });
    } catch (err) {
      bad = new Error(`kcat -J printed a line that is not a message (${(err as Error).message}): ${line.slice(0, 200)}`);
    }
  };
  const r = check(
    args,
    await runKcat([...args, '-J'], {
      onStdout: (b) => {
        const lines = (rest + decoder.decode(b, { stream: true })).split('\n');
        rest = lines.pop()!;
        for (const l of lines) onLine(l);
      },
    }),
  );
  onLine(rest + decoder.decode());
  if (bad) throw bad;
  return { messages, stderr: r.stderr };
}

/** Every message of a topic from the start; see consume. */
export async function consumeAll(bootstrap: string, topic: string, opts?: ConsumeOptions & { raw?: false }): Promise<KafkaMessage[]>;
export async function consumeAll(bootstrap: string, topic: string, opts: ConsumeOptions & { raw: true }): Promise<RawKafkaMessage[]>;
export async function consumeAll(bootstrap: string, topic: string, opts: ConsumeOptions & { raw?: boolean } = {}): Promise<KafkaMessage[] | RawKafkaMessage[]> {
  return opts.raw ? (await consume(bootstrap, topic, { ...opts, raw: true })).messages : (await consume(bootstrap, topic, { ...opts, raw: false })).messages;
}

function rawParser(topic: string): { push: (b: Buffer) => void; end: () => RawKafkaMessage[] } {
  const messages: RawKafkaMessage[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let head: number[] | undefined;
  const parse = () => {
    for (;;) {
      if (!head) {
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        const line = buf.subarray(0, nl).toString('latin1');
        head = line.split(' ').map(Number);
        if (head.length !== 4 || head.some((n) => !Number.isInteger(n))) throw new Error(`kcat printed an unexpected message header: ${JSON.stringify(line)}`);
        buf = buf.subarray(nl + 1);
      }
      const [partition, offset, keyLen, payloadLen] = head as [number, number, number, number];
      const need = Math.max(keyLen, 0) + Math.max(payloadLen, 0);
      if (buf.length < need) return;
      const key = keyLen < 0 ? null : Buffer.from(buf.subarray(0, keyLen));
      const payload = payloadLen < 0 ? null : Buffer.from(buf.subarray(Math.max(keyLen, 0), need));
      messages.push({ topic, partition, offset, key, payload });
      buf = buf.subarray(need);
      head = undefined;
    }
  };
  return {
    push: (b) => {
      buf = buf.length ? Buffer.concat([buf, b]) : b;
      parse();
    },
    end: () => {
      if (head || buf.length) throw new Error(`kcat's output ended inside a message (${buf.length} bytes left)`);
      return messages;
    },
  };
}

/**
 * Produces a file's lines (kcat -P -l), one message each. extraArgs: -K: (a
 * key before the first ':'), -H k=v (a header on every message), -z codec,
 * -p partition, -X prop=val, -d msg... Fails if kcat does; resolves with its
 * output, for tests that read its debug log.
 */
export async function produceWithKcat(bootstrap: string, topic: string, file: string, extraArgs: string[] = []): Promise<KcatResult> {
  const args = ['-P', '-b', bootstrap, '-t', topic, ...extraArgs, '-l', file];
  return check(args, await runKcat(args));
}

export interface KafkaMetadata {
  originating_broker: { id: number; name: string };
  query: { topic: string };
  controllerid: number;
  brokers: { id: number; name: string }[];
  topics: {
    topic: string;
    error?: string;
    partitions: { partition: number; leader: number; error?: string; replicas: { id: number }[]; isrs: { id: number }[] }[];
  }[];
}

/** kcat -L -J: the brokers and topics (all, or one) as the broker answering describes them. */
export async function kafkaMetadata(bootstrap: string, opts: { topic?: string; extraArgs?: string[] } = {}): Promise<KafkaMetadata> {
  // -m: how long kcat waits for the answer; the default 5 s is short for a busy machine.
  const args = ['-L', '-J', '-b', bootstrap, '-m', '60', ...(opts.topic ? ['-t', opts.topic] : []), ...(opts.extraArgs ?? [])];
  const r = check(args, await runKcat(args));
  try {
    return JSON.parse(r.stdout) as KafkaMetadata;
  } catch (err) {
    throw new Error(`kcat -L -J printed no JSON (${(err as Error).message}): ${r.stdout.slice(0, 500)}; stderr:\n${r.stderr.slice(-2000)}`);
  }
}
