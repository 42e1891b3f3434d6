// TLS from the kafka plugin to a broker: librdkafka's mock cluster has no TLS
// listener, so socat terminates TLS in front of one broker (requiring a client
// certificate). The startup check's Metadata request goes through it, which
// proves the tls.* keys reach the connection. Producing through it cannot be
// tested: the mock advertises its plaintext ports, and the client connects
// there next.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startPlugin } from '../../sdk/src/harness.ts';
import { startMockCluster, type MockCluster } from '../../test/helpers/kafka.ts';
import { waitFor } from '../../test/helpers/wait.ts';

const PLUGIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-tls-'));
const f = (name: string) => join(dir, name);
let kafka: MockCluster;
let proxy = 0;
let socat: ReturnType<typeof spawn> | undefined;
// Registered here, not in before(): an after() made inside a hook belongs to that hook and runs as soon as it ends.
after(() => socat?.kill('SIGKILL'));
process.on('exit', () => socat?.kill('SIGKILL'));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, and a certificate for `name` signed by it (with subjectAltName for the server). */
function certificates(): void {
  for (const ca of ['ca', 'other-ca']) openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', `${name}.pem`);
  }
}

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

before(async () => {
  certificates();
  kafka = await startMockCluster({ brokers: 1 });
  await kafka.command('topic tls 8');
  proxy = await freePort();
  socat = spawn('socat', [
    `OPENSSL-LISTEN:${proxy},bind=127.0.0.1,reuseaddr,fork,cert=${f('server.pem')},key=${f('server.key')},cafile=${f('ca.pem')},verify=1`,
    `TCP:${kafka.bootstrap}`,
  ], { stdio: 'ignore' });
  await waitFor(() => new Promise<boolean>((resolve) => {
    const c = connect(proxy, '127.0.0.1', () => (c.destroy(), resolve(true))).on('error', () => resolve(false));
  }), 'socat to listen', { pids: () => [socat!.pid!] });
});

async function configure(t: { after(fn: () => unknown): void }, extra: { [k: string]: unknown }) {
  const p = await startPlugin([process.execPath, PLUGIN]);
  t.after(() => p.stop());
  return p.configure({ brokers: `127.0.0.1:${proxy}`, topic: 'tls', startup_check: 'fail', connect_timeout: '5s', tls: true, ...extra });
}

test('with the right CA and a client certificate, the startup check reaches the broker through TLS', async (t) => {
  assert.deepEqual(await configure(t, { 'tls.ca_file': f('ca.pem'), 'tls.crt_file': f('client.pem'), 'tls.key_file': f('client.key') }), []);
});

test('a broker certificate from another CA, or no client certificate, is a Configure error naming brokers', async (t) => {
  const wrongCa = await configure(t, { 'tls.ca_file': f('other-ca.pem'), 'tls.crt_file': f('client.pem'), 'tls.key_file': f('client.key') });
  assert.deepEqual(wrongCa.map((e) => e.key), ['brokers']);
  assert.match(wrongCa[0]!.message, /cannot fetch metadata for topic tls .*certificate/i);
  const noCert = await configure(t, { 'tls.ca_file': f('ca.pem') });
  assert.deepEqual(noCert.map((e) => e.key), ['brokers']);
  // tls.verify off accepts the unknown CA (and says nothing about it being wise).
  assert.deepEqual(await configure(t, { 'tls.verify': false, 'tls.crt_file': f('client.pem'), 'tls.key_file': f('client.key') }), []);
});

test('a client key that does not belong to its certificate is refused before connecting', async (t) => {
  const errors = await configure(t, { 'tls.ca_file': f('ca.pem'), 'tls.crt_file': f('client.pem'), 'tls.key_file': f('server.key') });
  assert.deepEqual(errors.map((e) => e.key), ['tls.key_file']);
  assert.match(errors[0]!.message, /not usable together: .*key values mismatch/);
});
