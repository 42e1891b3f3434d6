// The command line through the real binary: a mistyped flag, command or
// argument stops sluice with exit code 2, a suggestion and the usage, before
// anything starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sluice, tempDir, writeConfig } from '../helpers/sluice.ts';
import { EXIT } from '../../host/cli/exit-codes.ts';

// A config that runs, and soon ends with exit code 0, if the mistake is ignored.
const VALID = writeConfig(tempDir(), `
pipeline:
  inputs:
    - { name: stdin, exit_on_eof: on }
  outputs:
    - { name: 'null', match: '*' }
`);

async function usageError(args: string[]): Promise<string> {
  const s = new Sluice(args);
  try {
    const { code } = await s.exit();
    assert.equal(code, EXIT.CONFIG, `sluice ${args.join(' ')} exited ${code}`);
    assert.deepEqual(s.logs, [], 'nothing was started, so nothing was logged');
    assert.equal(s.stdout, '');
    return s.stderrText.join('\n');
  } finally {
    s.kill('SIGKILL');
  }
}

const cases: [string[], RegExp][] = [
  [['run', '--wacth', '-c', VALID], /^sluice: unknown option --wacth; did you mean --watch\?\nusage: sluice run -c FILE \[--log-level LEVEL\] \[--watch\]/],
  [['run', '-c', VALID, '--log-levle', 'debug'], /unknown option --log-levle; did you mean --log-level\?/],
  [['run', '-c', VALID, '--log-level', 'debgu'], /--log-level must be one of .*got "debgu"; did you mean debug\?/],
  [['rnu', '-c', VALID], /unknown command "rnu"; did you mean run\?\nusage: /],
  [['run', VALID], /unexpected argument ".*sluice\.yaml"; the config file goes after -c: sluice run -c /],
  [['run', '-c', VALID, 'now'], /unexpected argument "now"/],
  [['validate', '-c', VALID, '--watch'], /--watch is not an option of "sluice validate" \(only of "sluice run"\)\nusage: sluice validate -c FILE/],
  [['run', '-c', '--watch'], /-c needs a value: -c FILE/],
  [['run', '-c', VALID, '--watch=yes'], /--watch takes no value/],
];

for (const [args, expected] of cases) {
  test(`sluice ${args.join(' ').replace(VALID, 'x.yaml')} is a usage error`, async () => {
    assert.match(await usageError(args), expected);
  });
}

test('a correct command line still works', async () => {
  const s = new Sluice(['--version']);
  assert.equal((await s.exit()).code, 0);
  assert.match(s.stdout, /^sluice \d/);
});
