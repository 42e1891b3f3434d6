// `sluice plugin new NAME --lang go`: the project builds offline (on Debian's
// Go packages, as this machine has them), its test passes, and the built
// plugin passes `sluice plugin check`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { MAIN, ROOT, tempDir } from '../helpers/sluice.ts';

test('sluice plugin new g --lang go builds, passes its own go test, and passes sluice plugin check', async () => {
  const dir = join(tempDir('sluice-go-new-'), 'g');
  const made = await execa(process.execPath, [MAIN, 'plugin', 'new', 'g', '--lang', 'go', '--dir', dir], { reject: false, all: true });
  assert.equal(made.exitCode, 0, made.all);
  assert.match(readFileSync(join(dir, 'go.mod'), 'utf8'), new RegExp(`replace sluice.dev/sdk/go => ${join(ROOT, 'sdk', 'go')}\n`));

  const go = (...args: string[]) => execa(join(dir, 'offline-go.sh'), args, { cwd: dir, reject: false, all: true });
  const built = await go('build', '-o', 'g', '.');
  assert.equal(built.exitCode, 0, `build failed:\n${built.all}`);
  const tested = await go('test', '.');
  assert.equal(tested.exitCode, 0, `go test failed:\n${tested.all}`);

  const check = await execa(process.execPath, [MAIN, 'plugin', 'check', '--json', '--config', 'path=/dev/null', '--', join(dir, 'g')], { reject: false, all: true });
  assert.equal(check.exitCode, 0, check.all);
  const failed = JSON.parse(check.stdout).results.filter((r: { status: string }) => r.status === 'fail');
  assert.deepEqual(failed, []);
});
