// The tcp input through the real binary: JSON lines and format none arrive;
// a malformed or over-long line is dropped, counted and logged with its
// peer and byte offset while that connection and the others go on; and
// under backpressure sluice stops reading, so the sender stalls, and after
// the outage every line arrives once, in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { metric } from '../helpers/metrics.ts';
import { countLines } from '../helpers/lines.ts';

function readJsonLines(file: string): any[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function arrived(file: string, pred: (r: any) => boolean, what: string): Promise<any> {
  return waitFor(() => readJsonLines(file).find(pred), `${what} in ${file}`);
}

async function inputPort(s: Sluice, input: string): Promise<number> {
  return (await s.waitForLog((l) => l.msg === 'tcp input listening' && l.input === input, `${input} to listen`)).port;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => resolve(sock));
    sock.once('error', reject);
  });
}

const closeSocket = (sock: Socket) => new Promise<void>((r) => sock.end(() => r()));

async function counter(s: Sluice, name: string, labels: { [k: string]: string }): Promise<number> {
  return metric(await s.api('/api/v1/metrics/prometheus'), name, labels);
}

describe('tcp input: formats and bad records', () => {
  const dir = tempDir();
  const out = (tag: string) => join(dir, `${tag}.jsonl`);
  let s: Sluice;
  const ports: { [input: string]: number } = {};

  before(async () => {
    s = Sluice.run(writeConfig(dir, `
service:
  flush: 0.2
  grace: 2
  http_server: on
  http_port: 0
pipeline:
  inputs:
    - { name: tcp, alias: json, listen: 127.0.0.1, port: 0, tag: json, source_address_key: peer }
    - { name: tcp, alias: short, listen: 127.0.0.1, port: 0, tag: short, buffer_size: 1 }
    - { name: tcp, alias: raw, listen: 127.0.0.1, port: 0, tag: raw, format: none }
    - { name: tcp, alias: piped, listen: 127.0.0.1, port: 0, tag: piped, format: none, separator: '|' }
  outputs:
${['json', 'short', 'raw', 'piped'].map((t) => `    - { name: file, match: ${t}, path: ${out(t)}, json_date_key: '' }`).join('\n')}
`));
    await s.started();
    for (const input of ['json', 'short', 'raw', 'piped']) ports[input] = await inputPort(s, input);
  });
  after(() => s.kill());

  test('JSON: one or more objects per line, arrays of objects, and a last line without a newline', async () => {
    const sock = await open(ports.json!);
    const peer = `tcp://127.0.0.1:${sock.localPort}`;
    sock.write('{"id":"j1"}\n{"id":"j2"}{"id":"j3"} {"id":"j4"}\n  [{"id":"j5"},{"id":"j6"}]\r\n{"id":');
    sock.write('"j7","nested":{"a":[1,2,{"b":"}"}]}}\n{"id":"last"}');
    await closeSocket(sock);
    const last = await arrived(out('json'), (r) => r.id === 'last', 'the last record');
    assert.equal(last.peer, peer, 'source_address_key holds the sender');
    const recs = readJsonLines(out('json'));
    assert.deepEqual(recs.map((r) => r.id), ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7', 'last']);
    assert.deepEqual(recs.find((r) => r.id === 'j7').nested, { a: [1, 2, { b: '}' }] });
  });

  test('format none: each line is {"log": line}; \\r\\n ends a line too, empty lines are skipped', async () => {
    const sock = await open(ports.raw!);
    sock.write('plain text\r\n\nnot {json\nüñí');
    sock.write('cödé\nno newline at the end');
    await closeSocket(sock);
    await arrived(out('raw'), (r) => r.log === 'no newline at the end', 'the last line');
    assert.deepEqual(readJsonLines(out('raw')).map((r) => r.log), ['plain text', 'not {json', 'üñícödé', 'no newline at the end']);
  });

  test('format none with a separator of its own', async () => {
    const sock = await open(ports.piped!);
    sock.write('a|b\nc|');
    sock.write('d');
    await closeSocket(sock);
    await arrived(out('piped'), (r) => r.log === 'd', 'the last record');
    assert.deepEqual(readJsonLines(out('piped')).map((r) => r.log), ['a', 'b\nc', 'd']);
  });

  test('a malformed line is dropped, counted and logged with peer and byte offset; its connection and the others go on', async () => {
    const a = await open(ports.json!);
    const b = await open(ports.json!);
    const has = (id: string) => (r: any) => r.id === id;
    a.write('{"id":"a1"}\n');
    b.write('{"id":"b1"}\n');
    await arrived(out('json'), has('a1'), 'a1');
    await arrived(out('json'), has('b1'), 'b1');
    const bad = '{"id": bad}\n';
    a.write(bad);
    await waitFor(async () => (await counter(s, 'sluice_input_rejected_records_total', { name: 'json', reason: 'invalid_json' })) === 1, 'the malformed line to be counted');
    const log = await s.waitForLog((l) => l.msg === 'tcp input dropped a record' && l.input === 'json', 'the warning');
    assert.equal(log.peer, `tcp://127.0.0.1:${a.localPort}`);
    assert.equal(log.line, 2);
    assert.equal(log.offset, '{"id":"a1"}\n'.length + bad.indexOf('bad'), JSON.stringify(log));
    a.write('{"id":"a2"}\n');
    b.write('{"id":"b2"}\n');
    await arrived(out('json'), has('a2'), 'a2 (same connection, after the bad line)');
    await arrived(out('json'), has('b2'), 'b2 (another connection)');
    await Promise.all([closeSocket(a), closeSocket(b)]);
  });

  test('a line over buffer_size is skipped and counted; the next one arrives', async () => {
    const sock = await open(ports.short!);
    // Sent in pieces: the line is over the limit before its end is seen.
    sock.write(`{"id":"long","pad":"${'x'.repeat(700)}`);
    sock.write(`${'y'.repeat(700)}"}\n{"id":"after-long"}\n`);
    await arrived(out('short'), (r) => r.id === 'after-long', 'the line after the long one');
    assert.equal(await counter(s, 'sluice_input_rejected_records_total', { name: 'short', reason: 'too_long' }), 1);
    assert.deepEqual(readJsonLines(out('short')).map((r) => r.id), ['after-long']);
    await closeSocket(sock);
  });

  test('connections are counted while open', async () => {
    const sock = await open(ports.raw!);
    await waitFor(async () => (await counter(s, 'sluice_input_connections', { name: 'raw' })) === 1, 'the connection to be counted');
    await closeSocket(sock);
    await waitFor(async () => (await counter(s, 'sluice_input_connections', { name: 'raw' })) === 0, 'the connection to be gone');
  });
});

test('backpressure: while paused sluice reads no socket, so the sender stalls; afterwards every line arrives once, in order', async () => {
  const dir = tempDir();
  const outage = join(dir, 'outage');
  const outFile = join(dir, 'out.jsonl');
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
  flaky: { command: [${JSON.stringify(join(FIXTURES, 'plugins/flaky.ts'))}] }
pipeline:
  inputs:
    - { name: tcp, listen: 127.0.0.1, port: 0, tag: lines, format: none, mem_buf_limit: 256K }
  outputs:
    - { name: flaky, match: '*', fail_while_exists: ${outage}, retry_limit: no_limits }
    - { name: file, match: '*', path: ${outFile}, json_date_key: '' }
`));
  try {
    await s.started();
    const sock = await open(await inputPort(s, 'tcp.0'));
    const pad = 'x'.repeat(1000);
    let sent = 0;
    let limit = Infinity;
    // Writes as fast as the socket takes lines: stops when write() says the buffers are full, goes on at 'drain'.
    const pump = () => {
      while (sent < limit) {
        let batch = '';
        for (let i = 0; i < 64; i++) batch += `${String(sent++).padStart(8, '0')} ${pad}\n`;
        if (!sock.write(batch)) return;
      }
    };
    sock.on('drain', pump);
    pump();

    const records = () => counter(s, 'sluice_input_records_total', { name: 'tcp.0' });
    await waitFor(async () => (await counter(s, 'sluice_input_paused', { name: 'tcp.0' })) === 1, 'the input to be paused', { progress: records });
    // The sender stalls once the kernel's buffers between it and sluice are full.
    await waitFor(async () => {
      const before = sent;
      await s.settle(500);
      return sent === before && sock.writableLength > 0;
    }, 'the sender to stall', { progress: () => sent });
    const read = await records();
    const stalledAt = sent;
    await s.settle(1000);
    assert.equal(await records(), read, 'sluice read from the socket while paused');
    assert.equal(sent, stalledAt, 'the sender could write while sluice was paused');
    assert.ok(sock.writableLength > 0, 'the sender has nothing waiting');

    limit = sent;
    rmSync(outage);
    await waitFor(() => countLines(outFile) >= sent, `all ${sent} lines to arrive`, { progress: () => countLines(outFile) });
    await closeSocket(sock);
    const got = readJsonLines(outFile).map((r) => Number(r.log.slice(0, 8)));
    assert.equal(got.length, sent, 'lines arrived more than once');
    for (let i = 0; i < sent; i++) if (got[i] !== i) assert.fail(`line ${i} is ${got[i]}: lost, repeated or out of order`);
  } finally {
    s.kill();
  }
});

test('SIGTERM: sluice exits 0 with senders connected; whole records sent are delivered, a record cut short is dropped with a warning', async () => {
  const dir = tempDir();
  const outFile = join(dir, 'out.jsonl');
  const s = Sluice.run(writeConfig(dir, `
service: { flush: 0.2, grace: 5 }
pipeline:
  inputs:
    - { name: tcp, listen: 127.0.0.1, port: 0, format: none }
  outputs:
    - { name: file, match: '*', path: ${outFile}, json_date_key: '' }
`));
  try {
    await s.started();
    const sock = await open(await inputPort(s, 'tcp.0'));
    const closed = new Promise((r) => sock.on('close', r));
    sock.on('error', () => {});
    sock.write('complete\ncut sho');
    await arrived(outFile, (r) => r.log === 'complete', 'the complete record');
    s.kill('SIGTERM');
    const { code } = await s.exit();
    assert.equal(code, 0, s.stderrText.join('\n'));
    await closed;
    assert.deepEqual(readJsonLines(outFile).map((r) => r.log), ['complete']);
    assert.equal(s.findLog((l) => l.msg === 'tcp input stopped with senders in the middle of records; those partial records are dropped')?.bytes, 'cut sho'.length);
  } finally {
    s.kill();
  }
});
