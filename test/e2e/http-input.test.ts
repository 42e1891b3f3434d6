// The http input through the real binary: bodies of every format arrive with
// the tag of their URL path; each status code it answers, each in a test; a
// 2xx only once the events are in a chunk file (filesystem storage); 503 with
// Retry-After while backpressure pauses it, and nothing lost once it resumes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'msgpackr';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';

interface Reply {
  status: number;
  headers: { [k: string]: string | string[] | undefined };
  text: string;
  json: any;
}

/**
 * One request over node:http. `body` as a list of buffers is sent with
 * Transfer-Encoding: chunked (no Content-Length). A refused request's
 * connection may be closed while the body is still being sent: once the
 * answer has come, a write error is no failure.
 */
function send(port: number, path: string, opts: { method?: string; body?: string | Buffer | Buffer[]; headers?: { [k: string]: string } } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'POST', headers: opts.headers ?? {} }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => (text += s));
      res.on('end', () => {
        let json: any;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const { body } = opts;
    if (Array.isArray(body)) {
      for (const b of body) req.write(b);
      req.end();
    } else req.end(body);
  });
}

const postJson = (port: number, path: string, body: unknown, headers: { [k: string]: string } = {}) =>
  send(port, path, { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

function readJsonLines(file: string): any[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Waits until the output file holds a record with this `id`; returns it. */
function arrived(file: string, id: string): Promise<any> {
  return waitFor(() => readJsonLines(file).find((r) => r.id === id), `a record with id ${id} in ${file}`);
}

async function inputPort(s: Sluice, input: string): Promise<number> {
  return (await s.waitForLog((l) => l.msg === 'http input listening' && l.input === input, `${input} to listen`)).port;
}

const HANG = JSON.stringify(join(FIXTURES, 'plugins/hang.ts'));
const FLAKY = JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'));

describe('http input: formats, tags and status codes', () => {
  const dir = tempDir();
  const out = (name: string) => join(dir, `${name}.jsonl`);
  let s: Sluice;
  let web: number;
  let secured: number;

  before(async () => {
    s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
  http_server: on
  http_port: 0
  storage.path: ${dir}/storage
plugins:
  hang: { command: [${HANG}] }
pipeline:
  inputs:
    - name: http
      alias: web
      listen: 127.0.0.1
      port: 0
      tag: default.tag
      tag_key: route
      buffer_max_size: 64K
      storage.type: filesystem
    - name: http
      alias: secured
      listen: 127.0.0.1
      port: 0
      tag: secured.tag
      bearer_token: s3cret
      successful_response_code: 204
  outputs:
    - { name: hang, match: held, marker: ${dir}/hang-marker, path: ${dir}/held.jsonl }
    - { name: file, match: app.logs, path: ${out('app')}, json_date_key: '' }
    - { name: file, match: default.tag, path: ${out('default')}, json_date_key: '' }
    - { name: file, match: 'routed.*', path: ${out('routed')}, json_date_key: '' }
    - { name: file, match: secured.tag, path: ${out('secured')}, json_date_key: '' }
`));
    await s.started();
    web = await inputPort(s, 'web');
    secured = await inputPort(s, 'secured');
  });
  after(() => s.kill());

  test('201 only once the events are in a chunk file (filesystem storage)', async () => {
    // The hang output holds the chunk unanswered, so its file stays for us to find.
    const r = await postJson(web, '/held', { id: 'stored-before-201' });
    assert.equal(r.status, 201, r.text);
    const chunks = join(dir, 'storage', 'web');
    const files = readdirSync(chunks).filter((f) => f.endsWith('.chunk'));
    assert.ok(files.some((f) => readFileSync(join(chunks, f)).includes('stored-before-201')), `no chunk file under ${chunks} holds the event when 201 arrives (files: ${files.join(', ')})`);
  });

  test('a JSON object arrives, tagged by the URL path', async () => {
    assert.equal((await postJson(web, '/app.logs', { id: 'object', n: 1 })).status, 201);
    assert.deepEqual(await arrived(out('app'), 'object'), { id: 'object', n: 1 });
  });

  test('a JSON array of objects arrives as one event each', async () => {
    assert.equal((await postJson(web, '/app.logs', [{ id: 'array-1' }, { id: 'array-2' }])).status, 201);
    await arrived(out('app'), 'array-2');
    assert.ok(readJsonLines(out('app')).some((r) => r.id === 'array-1'));
  });

  test('NDJSON arrives, with its content type and when detected without one', async () => {
    const nd = (id: string) => `{"id":"${id}-1"}\n\n{"id":"${id}-2"}\r\n`;
    assert.equal((await send(web, '/app.logs', { body: nd('ndjson'), headers: { 'content-type': 'application/x-ndjson' } })).status, 201);
    assert.equal((await send(web, '/app.logs', { body: nd('detected') })).status, 201);
    // curl -d sends application/x-www-form-urlencoded: a body that can only be JSON is taken as JSON.
    assert.equal((await send(web, '/app.logs', { body: nd('curl'), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 201);
    for (const id of ['ndjson-1', 'ndjson-2', 'detected-1', 'detected-2', 'curl-1', 'curl-2']) await arrived(out('app'), id);
  });

  test('MessagePack: a map, and an array of maps', async () => {
    const headers = { 'content-type': 'application/msgpack' };
    assert.equal((await send(web, '/app.logs', { body: pack({ id: 'msgpack-map', n: 7 }), headers })).status, 201);
    assert.equal((await send(web, '/app.logs', { body: pack([{ id: 'msgpack-a' }, { id: 'msgpack-b' }]), headers })).status, 201);
    assert.deepEqual(await arrived(out('app'), 'msgpack-map'), { id: 'msgpack-map', n: 7 });
    await arrived(out('app'), 'msgpack-a');
    await arrived(out('app'), 'msgpack-b');
  });

  test('a gzipped body, a form, and a body sent in chunks without Content-Length', async () => {
    const gz = gzipSync(JSON.stringify({ id: 'gzip' }));
    assert.equal((await send(web, '/app.logs', { body: gz, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })).status, 201);
    assert.equal((await send(web, '/app.logs', { body: 'id=form&x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 201);
    assert.equal((await send(web, '/app.logs', { body: [Buffer.from('{"id":'), Buffer.from('"chunked"}')], headers: { 'content-type': 'application/json' } })).status, 201);
    await arrived(out('app'), 'gzip');
    assert.deepEqual(await arrived(out('app'), 'form'), { id: 'form', x: '1' });
    await arrived(out('app'), 'chunked');
  });

  test('POST / takes the input\'s tag; tag_key takes a record\'s own', async () => {
    assert.equal((await postJson(web, '/', { id: 'root' })).status, 201);
    assert.equal((await postJson(web, '/app.logs', [{ id: 'routed', route: 'routed.x' }, { id: 'not-routed', route: 5 }])).status, 201);
    await arrived(out('default'), 'root');
    assert.deepEqual(await arrived(out('routed'), 'routed'), { id: 'routed', route: 'routed.x' });
    await arrived(out('app'), 'not-routed');
  });

  test('400 with the byte offset of a JSON error, and nothing stored', async () => {
    const body = '{"id": "bad-json", "n": tru}';
    const r = await send(web, '/app.logs', { body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.offset, body.indexOf('tru') + 3, r.text);
    assert.match(r.json.error, new RegExp(`byte offset ${r.json.offset}`));
    // The offset counts bytes, not characters.
    const utf8 = '{"id": "ünïcödé", x}';
    const u = await send(web, '/app.logs', { body: utf8, headers: { 'content-type': 'application/json' } });
    assert.equal(u.status, 400);
    assert.equal(u.json.offset, Buffer.byteLength(utf8.slice(0, utf8.indexOf('x'))), u.text);
  });

  test('400 with the line and byte offset of an NDJSON error; the valid lines are not stored either', async () => {
    const body = '{"id":"nd-ok-before-error"}\n{"id":"nd-2", oops}\n{"id":"nd-3"}\n';
    const r = await send(web, '/app.logs', { body, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.line, 2, r.text);
    assert.equal(r.json.offset, body.indexOf('oops'), r.text);
    const notObject = await send(web, '/app.logs', { body: '{"id":"x"}\n[1]\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(notObject.status, 400);
    assert.equal(notObject.json.line, 2, notObject.text);
    // A later request's event arriving proves the refused ones had their chance to.
    assert.equal((await postJson(web, '/app.logs', { id: 'after-400' })).status, 201);
    await arrived(out('app'), 'after-400');
    assert.ok(!readJsonLines(out('app')).some((rec) => rec.id === 'nd-ok-before-error' || rec.id === 'x'), 'part of a refused body was stored');
  });

  test('401 without the bearer token or with a wrong one; the configured success code with it', async () => {
    const none = await postJson(secured, '/', { id: 'no-token' });
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.equal((await postJson(secured, '/', { id: 'wrong-token' }, { authorization: 'Bearer nope' })).status, 401);
    const ok = await postJson(secured, '/', { id: 'token' }, { authorization: 'Bearer s3cret' });
    assert.equal(ok.status, 204, ok.text);
    await arrived(out('secured'), 'token');
    assert.ok(!readJsonLines(out('secured')).some((r) => r.id !== 'token'), 'an unauthorized request was stored');
  });

  test('405 with Allow for anything but POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const r = await send(web, '/app.logs', { method });
      assert.equal(r.status, 405, `${method}: ${r.text}`);
      assert.equal(r.headers.allow, 'POST');
    }
  });

  test('404 for a path that is not a tag', async () => {
    for (const path of ['/a/b', '/has%20space', '/tag*']) {
      const r = await postJson(web, path, { id: 'bad-path' });
      assert.equal(r.status, 404, `${path}: ${r.text}`);
      assert.match(r.json.error, /is not a tag/);
    }
  });

  test('413 over buffer_max_size, declared or sent in chunks, and inflated', async () => {
    const big = Buffer.alloc(200 * 1024, 'a');
    const declared = await send(web, '/app.logs', { body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(declared.status, 413, declared.text);
    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(16 * 1024, ' '));
    const chunked = await send(web, '/app.logs', { body: chunks, headers: { 'content-type': 'application/json' } });
    assert.equal(chunked.status, 413, chunked.text);
    // 1 MiB of spaces compresses to about a kilobyte: the limit applies to what it inflates to.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"id":"bomb"}'), Buffer.alloc(1 << 20, ' ')]));
    const inflated = await send(web, '/app.logs', { body: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    assert.equal(inflated.status, 413, inflated.text);
    // Other clients were not affected.
    assert.equal((await postJson(web, '/app.logs', { id: 'after-413' })).status, 201);
  });

  test('415 for a content type it cannot read', async () => {
    const r = await send(web, '/app.logs', { body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 415, r.text);
  });

  test('requests are counted by status code', async () => {
    const text = await s.api('/api/v1/metrics/prometheus');
    for (const code of ['201', '400', '404', '405', '413', '415']) assert.ok(metric(text, 'sluice_input_http_requests_total', { name: 'web', code }) > 0, `no ${code} counted`);
    assert.ok(metric(text, 'sluice_input_http_requests_total', { name: 'secured', code: '401' }) >= 2);
  });
});

test('503 with Retry-After while backpressure pauses the input; 201 again and nothing lost once outputs catch up', async () => {
  const dir = tempDir();
  const outage = join(dir, 'outage');
  writeFileSync(outage, '');
  const s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 5
  http_server: on
  http_port: 0
  scheduler.base: 0.2
  scheduler.cap: 1
plugins:
  flaky: { command: [${FLAKY}] }
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: 0
      tag: app
      mem_buf_limit: 16K
  outputs:
    - { name: flaky, match: '*', fail_while_exists: ${outage}, retry_limit: no_limits }
    - { name: file, match: '*', path: ${dir}/out.jsonl, json_date_key: '' }
`));
  try {
    await s.started();
    const port = await inputPort(s, 'http.0');
    // One event larger than mem_buf_limit: accepted, then held by the failing output, so the input stays paused.
    const big = { id: 'big', pad: 'x'.repeat(20 * 1024) };
    assert.equal((await postJson(port, '/', big)).status, 201);
    await waitFor(async () => metric(await s.api('/api/v1/metrics/prometheus'), 'sluice_input_paused', { name: 'http.0' }) === 1, 'the input to be paused');
    const refused = await postJson(port, '/', { id: 'refused' });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.json.error, /paused/);

    rmSync(outage);
    // A client that honours Retry-After gets through once the output has caught up.
    const accepted = await waitFor(async () => {
      const r = await postJson(port, '/', { id: 'after-resume' });
      if (r.status !== 201) {
        assert.equal(r.status, 503, r.text);
        await new Promise((res) => setTimeout(res, Number(r.headers['retry-after']) * 100));
      }
      return r.status === 201;
    }, 'a 201 after the outage');
    assert.ok(accepted);
    await arrived(join(dir, 'out.jsonl'), 'after-resume');
    const ids = readJsonLines(join(dir, 'out.jsonl')).map((r) => r.id);
    assert.deepEqual(ids.filter((id) => id === 'big'), ['big'], 'the event accepted before the pause arrives once');
    assert.ok(!ids.includes('refused'), 'a 503 request was stored');
  } finally {
    s.kill();
  }
});

test('a port in use stops the start with exit 2, naming the input and the port', async () => {
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    const dir = tempDir();
    const s = Sluice.run(writeConfig(dir, `
pipeline:
  inputs:
    - { name: http, alias: api, listen: 127.0.0.1, port: ${port} }
    - { name: tcp, listen: 127.0.0.1, port: ${port} }
  outputs:
    - { name: 'null', match: '*' }
`));
    const { code } = await s.exit();
    const stderr = s.stderrText.join('\n');
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`pipeline\\.inputs\\[0\\]\\.port: input api \\(http\\) cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
    assert.match(stderr, new RegExp(`pipeline\\.inputs\\[1\\]\\.port: input tcp\\.0 \\(tcp\\) cannot listen on 127\\.0\\.0\\.1:${port}`));
    assert.match(stderr, /2 problems in the config; nothing was started/);
  } finally {
    taken.close();
  }
});


/** A port that was free a moment ago: bound, then released. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

test('reloads: a changed input gets its port back; one whose port is taken is reported and started by a later reload', async () => {
  const dir = tempDir();
  const fixed = await freePort();
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const takenPort = (taken.address() as { port: number }).port;
  const config = (firstTag: string, second: boolean) => writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: http, alias: first, listen: 127.0.0.1, port: ${fixed}, tag: ${firstTag} }
${second ? `    - { name: http, alias: second, listen: 127.0.0.1, port: ${takenPort}, tag: two }` : ''}
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl, json_date_key: '' }
`);
  const s = Sluice.run(config('one', false));
  const reload = async () => {
    const res = await fetch(`http://127.0.0.1:${await s.apiPort()}/api/v2/reload?wait=true`, { method: 'POST' });
    return { status: res.status, body: (await res.json()) as any };
  };
  try {
    await s.started();
    assert.equal((await postJson(fixed, '/', { id: 'before' })).status, 201);

    config('uno', true);
    const partial = await reload();
    assert.equal(partial.status, 422, JSON.stringify(partial.body));
    assert.equal(partial.body.applied, true);
    assert.equal(partial.body.inputs.first, 'changed');
    assert.match(partial.body.errors.join('\n'), new RegExp(`input second \\(http\\) cannot listen on 127\\.0\\.0\\.1:${takenPort}: the port is already in use`));
    // The changed input listens again on the same port: its old instance let it go.
    assert.equal((await postJson(fixed, '/', { id: 'after-change' })).status, 201);

    await new Promise((r) => taken.close(r));
    const retried = await reload();
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.inputs.second, 'added');
    assert.equal((await postJson(takenPort, '/', { id: 'second' })).status, 201);
    await arrived(join(dir, 'out.jsonl'), 'second');
    const ids = readJsonLines(join(dir, 'out.jsonl')).map((r) => r.id).sort();
    assert.deepEqual(ids, ['after-change', 'before', 'second']);
  } finally {
    s.kill();
    taken.close();
  }
});

test('SIGTERM: a request still sending its body gets 503 at once, stored ones were answered, and sluice exits 0', async () => {
  const dir = tempDir();
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, grace: 5 }
pipeline:
  inputs:
    - { name: http, listen: 127.0.0.1, port: 0 }
  outputs:
    - { name: file, match: '*', path: ${dir}/out.jsonl, json_date_key: '' }
`));
  try {
    await s.started();
    const port = await inputPort(s, 'http.0');
    const slow = connect(port, '127.0.0.1');
    let answer = '';
    slow.setEncoding('utf8').on('data', (d: string) => (answer += d));
    const slowClosed = new Promise((r) => slow.on('close', r));
    // 100 Continue says the input has taken the request and waits for its body.
    slow.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
    await waitFor(() => answer.startsWith('HTTP/1.1 100 Continue'), '100 Continue');
    slow.write('{"id":');
    assert.equal((await postJson(port, '/', { id: 'stored' })).status, 201);
    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0, s.stderrText.join('\n'));
    await slowClosed;
    assert.match(answer, /\r\n\r\nHTTP\/1\.1 503 /);
    assert.match(answer, /retry-after: 1/i);
    assert.deepEqual(readJsonLines(join(dir, 'out.jsonl')).map((r) => r.id), ['stored']);
  } finally {
    s.kill();
  }
});
