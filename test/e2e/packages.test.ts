// What users install: `npm pack` of both packages, installed with the
// system's npm into empty projects outside the checkout, then used from there
// as a user and as a plugin author would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { ROOT, Sluice, tempDir, waitFor, writeConfig } from '../helpers/sluice.ts';
import { consumeAll, startMockCluster } from '../helpers/kafka.ts';

const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
// This test's Node (22, from the node devDependency) first, as a user with Node 22 has it.
const NODE22_BIN = dirname(process.execPath);
// The PATH without the checkout's node_modules/.bin dirs that `npm test` adds: the system's own npm and node.
const SYSTEM_PATH = (process.env.PATH ?? '').split(delimiter).filter((d) => !d.includes('node_modules')).join(delimiter);

/** A user's shell: no npm_* variables from the `npm test` running this file. */
function userEnv(path: string): NodeJS.ProcessEnv {
  return { PATH: path, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, LANG: 'C.UTF-8' };
}

function run(cmd: string, args: string[], cwd: string, path = [NODE22_BIN, SYSTEM_PATH].join(delimiter)) {
  return execa(cmd, args, { cwd, env: userEnv(path), extendEnv: false, reject: false, all: true });
}

function must(r: { exitCode?: number; all?: string; command: string }): void {
  assert.equal(r.exitCode, 0, `${r.command} failed:\n${r.all}`);
}

/** Every file under dir, relative to it. */
function walk(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(dir, join(sub, e.name)) : [join(sub, e.name)],
  );
}

let tarballs: { sluice: string; sdk: string };

before(async () => {
  // Pack from a copy of the sources, so the checkout never gets a dist/ that could go stale.
  const copy = join(tempDir('sluice-pack-'), 'sluice');
  cpSync(ROOT, copy, {
    recursive: true,
    filter: (src) => !/(^|\/)(node_modules|dist|\.git|\.gopath|out)$/.test(relative(ROOT, src)) && !relative(ROOT, src).startsWith('bench/data'),
  });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  const dest = tempDir('sluice-tarballs-');
  // npm from the PATH `npm test` gave us runs the prepack build on Node 22.
  must(await execa('npm', ['pack', '--pack-destination', dest], { cwd: copy, reject: false, all: true }));
  must(await execa('npm', ['pack', '-w', 'sdk', '--pack-destination', dest], { cwd: copy, reject: false, all: true }));
  tarballs = { sluice: join(dest, `sluice-${VERSION}.tgz`), sdk: join(dest, `sluice-sdk-${VERSION}.tgz`) };
  assert.ok(existsSync(tarballs.sluice) && existsSync(tarballs.sdk), `npm pack made ${readdirSync(dest).join(', ')}`);
});

test('the packed packages install into an empty project and run there: sluice with bundled plugins (kafka and forward too) and a plugin built on the SDK alone', async () => {
  const kafka = await startMockCluster({ brokers: 1, topics: [{ name: 'packed' }] });
  // The forward output's receiver: a sluice from the checkout, with the forward input.
  const receiverDir = tempDir('sluice-forward-receiver-');
  const receiver = Sluice.run(writeConfig(receiverDir, `
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: 0 }
  outputs:
    - { name: file, match: '*', path: ${join(receiverDir, 'forwarded.jsonl')} }
`));
  after(() => receiver.kill());
  const { port: forwardPort } = await receiver.waitForLog((l) => l.msg === 'forward input listening', 'the forward receiver to listen');
  const project = tempDir('sluice-user-');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true, type: 'module' }));
  must(await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarballs.sdk, tarballs.sluice], project, SYSTEM_PATH));

  for (const pkg of ['sluice', '@sluice/sdk']) {
    const files = walk(join(project, 'node_modules', pkg));
    const source = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    assert.deepEqual(source, [], `${pkg} ships TypeScript sources, which Node will not run from node_modules`);
    assert.ok(!files.some((f) => /^(test|bench|\.ci)\//.test(f)), `${pkg} ships test/bench/.ci files: ${files.filter((f) => /^(test|bench|\.ci)\//.test(f)).slice(0, 5).join(', ')}`);
  }
  assert.ok(walk(join(project, 'node_modules', '@sluice/sdk')).some((f) => f === 'dist/harness.d.ts'), 'the SDK ships its .d.ts');

  const version = await run('npx', ['sluice', '--version'], project);
  must(version);
  assert.equal(version.stdout.trim(), `sluice ${VERSION}`);

  // The system's Node, when it is older than sluice needs, gets one line, not a stack trace.
  const systemNode = await execa('node', ['-p', 'process.versions.node'], { env: userEnv(SYSTEM_PATH), extendEnv: false, reject: false });
  const [major = 0, minor = 0] = systemNode.stdout.split('.').map(Number);
  if (systemNode.exitCode === 0 && (major < 22 || (major === 22 && minor < 22))) {
    const old = await run('node', [join(project, 'node_modules', '.bin', 'sluice'), '--version'], project, SYSTEM_PATH);
    assert.equal(old.exitCode, 1);
    assert.match(old.all ?? '', /^sluice: needs Node\.js 22\.22 or newer; \S+ is v\d+\.\d+\.\d+\. Install Node 22 LTS or newer and run sluice with it\.$/);
  }

  writeFileSync(join(project, 'shout.js'), `#!/usr/bin/env node
import { appendFileSync } from 'node:fs';
import { serve } from '@sluice/sdk';
serve({
  name: 'shout',
  version: '1.0.0',
  config: { path: { type: 'string', required: true, description: 'where' } },
  flush(chunk, ctx) {
    appendFileSync(ctx.config.path, chunk.events().map((e) => String(e.body.message).toUpperCase() + '\\n').join(''));
  },
});
`);
  writeFileSync(join(project, 'sluice.yaml'), `
plugins:
  shout:
    command: [node, shout.js]
pipeline:
  inputs:
    - name: dummy
      tag: demo
      dummy: '{"message": "hello"}'
      samples: 50
      rate: 1000
      exit_on_eof: true
  outputs:
    - name: file
      match: '*'
      path: out/events.jsonl
    - name: shout
      match: '*'
      path: out/shout.txt
    - name: kafka
      match: '*'
      brokers: ${kafka.bootstrap}
      topic: packed
    - name: forward
      match: '*'
      port: ${forwardPort}
      require_ack_response: on
`);
  const r = await run('npx', ['sluice', 'run', '-c', 'sluice.yaml'], project);
  must(r);
  const events = readFileSync(join(project, 'out/events.jsonl'), 'utf8').trim().split('\n');
  assert.equal(events.length, 50);
  assert.equal(JSON.parse(events[0]!).message, 'hello');
  assert.equal(readFileSync(join(project, 'out/shout.txt'), 'utf8'), 'HELLO\n'.repeat(50));
  const produced = await consumeAll(kafka.bootstrap, 'packed');
  assert.equal(produced.length, 50);
  assert.equal(JSON.parse(produced[0]!.payload!).message, 'hello');
  // Acknowledged means stored by the receiver; its file output writes them soon after.
  const forwarded = join(receiverDir, 'forwarded.jsonl');
  await waitFor(() => existsSync(forwarded) && readFileSync(forwarded, 'utf8').split('\n').filter(Boolean).length >= 50, '50 events forwarded', { progress: () => existsSync(forwarded) && readFileSync(forwarded, 'utf8').length });
  assert.deepEqual(readFileSync(forwarded, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).message), Array(50).fill('hello'));
});

test('sluice plugin new writes a project that installs from the tarballs, passes its own test, typechecks, builds, and passes sluice plugin check', async () => {
  const home = tempDir('sluice-author-');
  // The sluice that makes the project is the installed one.
  writeFileSync(join(home, 'package.json'), JSON.stringify({ name: 'tools', private: true }));
  must(await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarballs.sdk, tarballs.sluice], home, SYSTEM_PATH));
  must(await run('npx', ['sluice', 'plugin', 'new', 'x', '--lang', 'ts', '--dir', 'x'], home));

  const project = join(home, 'x');
  // The generated package.json asks for ^VERSION from the registry; these are not published, so point it at the tarballs.
  const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.dependencies['@sluice/sdk'], `^${VERSION}`);
  pkg.dependencies['@sluice/sdk'] = `file:${tarballs.sdk}`;
  pkg.devDependencies.sluice = `file:${tarballs.sluice}`;
  writeFileSync(join(project, 'package.json'), JSON.stringify(pkg, null, 2));
  must(await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], project, SYSTEM_PATH));

  const t = await run('npm', ['test'], project);
  must(t);
  assert.match(t.all ?? '', /# pass 3\b/);
  assert.match(t.all ?? '', /# fail 0\b/);
  must(await run('npm', ['run', 'typecheck'], project));
  must(await run('npm', ['run', 'check'], project));
  must(await run('npm', ['run', 'build'], project));
  const built = await run('npx', ['sluice', 'plugin', 'check', '--json', '--config', 'path=/dev/null', '--', 'node', 'dist/plugin.js'], project);
  must(built);
  const report = JSON.parse(built.stdout);
  assert.ok(report.results.length >= 10, `the checker ran ${report.results.length} rules`);
  assert.deepEqual(report.results.filter((r: { status: string }) => r.status === 'fail'), []);
});
