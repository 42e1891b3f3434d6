// The Go SDK (sdk/go/sluice): its own unit tests, and plugins built with it
// (examples/go/file, examples/go/http, test/fixtures/go/fixture) checked from
// the outside: `sluice plugin check`, the harness, and the real host's log.
// The Go builds dominate this file's time: one `go build` makes every
// binary, once, in before().
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, ROOT, Sluice, runCommand, tempDir, writeConfig } from '../helpers/sluice.ts';
import { checkPlugin, formatResults, type RuleResult } from '../../host/plugin-kit/check.ts';
import { startPlugin, type PluginHarness } from '../../sdk/src/harness.ts';

const GO = join(ROOT, 'scripts/go.sh');
/** Bounds a go command: a cold build of grpc and protobuf takes a while on a busy machine. */
const GO_CAP_MS = 300_000;

const binDir = tempDir('sluice-go-bin-');
const bin = (name: string) => join(binDir, name);
after(() => rmSync(binDir, { recursive: true, force: true }));

before(async () => {
  // One build for all three: they share every package but their own. `-o DIR/` names each binary after its directory.
  const r = await runCommand(GO, ['build', '-o', `${binDir}/`, './examples/go/file', './examples/go/http', './test/fixtures/go/fixture'], GO_CAP_MS);
  assert.equal(r.code, 0, `go build failed:\n${r.stdout}${r.stderr}`);
});

function assertAllPass(results: RuleResult[]): void {
  assert.deepEqual(results.filter((r) => r.status !== 'pass').map((r) => r.rule), [], formatResults(results));
}

/** A node:http server whose answer each test decides; records every request. */
class Remote {
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  private readonly server: Server;
  private readonly held: ServerResponse[] = [];
  url = '';
  constructor(answer: (body: string, res: ServerResponse) => void) {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (s: string) => (body += s));
      req.on('end', () => {
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        answer(body, res);
      });
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/ingest`;
    return this;
  }
  /** Keeps a response open (a remote end that never answers) until close(). */
  hold(res: ServerResponse): void {
    this.held.push(res);
  }
  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

test('the Go SDK\'s own tests pass (go test sluice.dev/sdk/go/...)', async () => {
  const r = await runCommand(GO, ['test', 'sluice.dev/sdk/go/...'], GO_CAP_MS);
  assert.equal(r.code, 0, `go test failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^ok\s+sluice\.dev\/sdk\/go\/sluice\b/m);
});

describe('sluice plugin check', () => {
  test('passes for examples/go/file, given its path (through the CLI)', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'out.jsonl');
      const r = await runCommand(process.execPath, [MAIN, 'plugin', 'check', '--json', '--config', `path=${path}`, '--', bin('file')], 120_000);
      const { results } = JSON.parse(r.stdout) as { results: RuleResult[] };
      assertAllPass(results);
      assert.equal(r.code, 0);
      const first = JSON.parse(readFileSync(path, 'utf8').split('\n')[0]!);
      assert.equal(first.log, 'sluice plugin check 1', 'the checker\'s events were written as JSON lines');
      assert.equal(typeof first.date, 'number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('passes for examples/go/http, against a local server', async () => {
    const remote = await new Remote((_body, res) => res.writeHead(200).end('ok')).listen();
    try {
      assertAllPass(await checkPlugin([bin('http')], { config: { url: remote.url } }));
      assert.ok(remote.requests.some((r) => r.body.includes('"log":"sluice plugin check 1"')), 'the events were POSTed');
    } finally {
      await remote.close();
    }
  });
});

test('examples/go/file cuts off a partial last line at Configure, then appends whole lines (sync: on)', async () => {
  const dir = tempDir();
  const path = join(dir, 'out.jsonl');
  writeFileSync(path, '{"a":1}\n{"b":');
  const plugin = await startPlugin([bin('file')]);
  try {
    assert.deepEqual(await plugin.configure({ path, sync: 'on', json_date_key: '' }, { validateOnly: true }), []);
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n{"b":', 'a validate-only Configure touches nothing');
    assert.deepEqual(await plugin.configure({ path, sync: 'on', json_date_key: '' }), []);
    const warned = await plugin.waitForLog((l) => l.msg.startsWith('removed a partial last line'));
    assert.equal(warned.level, 'warn');
    assert.equal(warned.record!.bytes, 5);
    assert.equal((await plugin.flush('t', [{ b: 2 }, { c: 'x' }])).status, 'OK');
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n{"b":2}\n{"c":"x"}\n');
    const metrics = await plugin.metrics();
    assert.equal(metrics.find((m) => m.name === 'file_records_total')?.value, 2);
    assert.equal(metrics.find((m) => m.name === 'sdk_flush_answers_total' && m.labels.status === 'ok')?.value, 1);
  } finally {
    await plugin.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('a Go plugin through the harness', () => {
  let plugin: PluginHarness;
  before(async () => {
    plugin = await startPlugin([bin('fixture')], { logLevel: 'debug' });
    assert.equal(plugin.version, 2);
    assert.deepEqual(await plugin.configure({}), []);
  });
  after(() => plugin?.stop());

  test('a Flush that panics is answered RETRY, its stack logged at error; the process stays up and the retry is delivered', async () => {
    const first = await plugin.flush('t', [{ log: 'boom', panic: true }], { chunkId: 'panicky' });
    assert.equal(first.status, 'RETRY');
    assert.match(first.message, /^flush panicked: .*nil map/);
    const logged = await plugin.waitForLog((l) => l.msg === 'flush panicked; the chunk is answered RETRY');
    assert.equal(logged.level, 'error');
    assert.equal(logged.record!.chunk_id, 'panicky');
    assert.match(String(logged.record!.stack), /goroutine \d+ \[running\]:[\s\S]*fixture\/main\.go:\d+/);

    assert.equal(await plugin.health(), 'SERVING');
    const again = await plugin.flush('t', [{ log: 'boom', panic: true }], { chunkId: 'panicky', attempt: 2 });
    assert.equal(again.status, 'OK');
    const delivered = await plugin.waitForLog((l) => l.msg === 'go fixture delivered' && l.record?.chunk_id === 'panicky');
    assert.equal(delivered.record!.attempt, 2);
    assert.equal(delivered.record!.logs, 'boom');
  });

  test('stdout stays reserved: a stray fmt.Println arrives on stderr', async () => {
    await plugin.waitForLog((l) => l.raw === 'a stray line on stdout');
    assert.deepEqual(plugin.stdout, []);
  });

  test('SIGINT is ignored; SIGTERM exits 0', async () => {
    plugin.kill('SIGINT');
    await plugin.waitForLog(/SIGINT ignored/);
    assert.equal(await plugin.health(), 'SERVING');
    plugin.kill('SIGTERM');
    const exit = await plugin.waitForExit();
    assert.equal(exit.code, 0);
  });
});

test('a Go plugin\'s log lines reach the host\'s log with their level and fields', async () => {
  const dir = tempDir();
  const config = writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
pipeline:
  inputs:
    - { name: dummy, rate: 20, samples: 1, dummy: '{"log":"from dummy"}' }
  outputs:
    - { name: p, match: '*', greeting: hello }
plugins:
  p: { command: [${JSON.stringify(bin('fixture'))}] }
`);
  const s = Sluice.run(config);
  try {
    const warn = await s.waitForLog((l) => l.msg === 'go fixture configured', 'the warn line');
    const error = await s.waitForLog((l) => l.msg === 'go fixture error line', 'the error line');
    const info = await s.waitForLog((l) => l.msg === 'go fixture delivered', 'the delivery line');
    const stray = await s.waitForLog((l) => l.msg === 'a stray line on stdout', 'the stray stdout line');
    assert.equal(warn.level, 40);
    assert.equal(warn.greeting, 'hello', 'the config reached the plugin');
    assert.equal(warn.answer, 42);
    assert.equal(warn.instance, 'p.0');
    assert.deepEqual(warn.fields, { msg: 'mine' }, 'a field named like the host\'s goes under fields');
    assert.match(warn.plugin_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}/);
    assert.equal(error.level, 50);
    assert.equal(error.code, 7);
    assert.equal(info.level, 30);
    assert.equal(info.logs, 'from dummy');
    for (const l of [warn, error, info, stray]) {
      assert.equal(l.output, 'p.0');
      assert.equal(l.plugin, 'p');
      assert.equal(typeof l.plugin_pid, 'number');
    }
    assert.equal(stray.stderr, true, 'a plain line');
    assert.equal(s.findLog((l) => /stdout after its handshake/.test(l.msg)), undefined, 'nothing reached stdout');
    assert.equal(s.findLog((l) => l.msg === 'go fixture debug line'), undefined, 'below the host\'s level');
  } finally {
    s.kill('SIGTERM');
    await s.exit();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('examples/go/http through the harness', () => {
  let plugin: PluginHarness;
  let remote: Remote;
  before(async () => {
    // The event's log line says how to answer.
    remote = await new Remote((body, res) => {
      const want = /"log":"(\w+)"/.exec(body)?.[1] ?? '';
      if (want === 'hang') return remote.hold(res);
      if (want === 'slow429') return void res.writeHead(429, { 'retry-after': '7' }).end('slow down');
      const code = Number(want.replace('status', '')) || 200;
      res.writeHead(code).end(code === 200 ? 'ok' : `you asked for ${code}`);
    }).listen();
    plugin = await startPlugin([bin('http')]);
    assert.deepEqual(await plugin.configure({ url: remote.url, timeout: '300ms', headers: { 'X-Token': 'abc' } }), []);
  });
  after(async () => {
    await plugin?.stop();
    await remote?.close();
  });

  test('OK on 200, with the events as JSON lines and the configured headers', async () => {
    const r = await plugin.flush('app', [{ log: 'status200', n: 1 }, { log: 'second' }], { chunkId: 'chunk-ok' });
    assert.equal(r.status, 'OK', r.message);
    const req = remote.requests.find((q) => q.headers['idempotency-key'] === 'chunk-ok')!;
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/x-ndjson');
    assert.equal(req.headers['x-token'], 'abc');
    assert.equal(req.headers['x-sluice-tag'], 'app');
    const lines = req.body.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.log, l.n]), [['status200', 1], ['second', undefined]]);
    assert.equal(typeof lines[0].date, 'number');
  });

  test('RETRY on 503, ERROR on 400', async () => {
    const [r503, r400] = await Promise.all([
      plugin.flush('app', [{ log: 'status503' }]),
      plugin.flush('app', [{ log: 'status400' }]),
    ]);
    assert.equal(r503.status, 'RETRY');
    assert.match(r503.message, /^HTTP 503 from .*: you asked for 503$/);
    assert.equal(r400.status, 'ERROR');
    assert.match(r400.message, /^HTTP 400 /);
  });

  test('RETRY on 429 after Retry-After; RETRY on a timeout and on a refused connection', async () => {
    const r429 = await plugin.flush('app', [{ log: 'slow429' }]);
    assert.equal(r429.status, 'RETRY');
    assert.equal(r429.retryAfterMs, 7000);
    const hung = await plugin.flush('app', [{ log: 'hang' }]);
    assert.equal(hung.status, 'RETRY');
    assert.match(hung.message, /no answer within 300ms/);

    const refused = await startPlugin([bin('http')]);
    try {
      // A port nobody listens on: this server's, once it is closed.
      const gone = await new Remote(() => {}).listen();
      await gone.close();
      assert.deepEqual(await refused.configure({ url: gone.url }), []);
      const r = await refused.flush('app', [{ log: 'x' }]);
      assert.equal(r.status, 'RETRY');
      assert.match(r.message, /connection refused/);
    } finally {
      await refused.stop();
    }
  });

  test('Configure refuses a URL that is not http(s), key by key', async () => {
    const other = await startPlugin([bin('http')]);
    try {
      assert.deepEqual(await other.configure({ url: 'ftp://x', timeout: 'soon', hedaers: {} }, { validateOnly: true }), [
        { key: 'timeout', message: 'must be a duration in seconds or like "500ms", "5s", "2m", got "soon"' },
        { key: 'hedaers', message: 'unknown key; did you mean "headers"?' },
      ]);
      assert.deepEqual(await other.configure({ url: 'ftp://x' }, { validateOnly: true }), [
        { key: 'url', message: 'must be an http:// or https:// URL with a host, got "ftp://x"' },
      ]);
    } finally {
      await other.stop();
    }
  });
});
