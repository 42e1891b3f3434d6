import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, closest, parseCommandLine } from '../../host/cli/args.ts';

describe('closest', () => {
  test('suggests only what is close', () => {
    assert.equal(closest('wacth', ['config', 'log-level', 'watch']), 'watch');
    assert.equal(closest('Watch', ['watch']), 'watch');
    assert.equal(closest('rnu', ['run', 'validate']), 'run');
    assert.equal(closest('level', ['config', 'log-level', 'watch']), 'log-level');
    assert.equal(closest('frobnicate', ['config', 'log-level', 'watch']), undefined);
    assert.equal(closest('x', ['run', 'validate']), undefined);
  });
});

describe('parseCommandLine', () => {
  const err = (argv: string[]) => {
    try {
      parseCommandLine(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.message;
    }
    assert.fail(`${argv.join(' ')} was accepted`);
  };

  test('accepts the documented forms', () => {
    assert.deepEqual(parseCommandLine(['run', '-c', 'x.yaml']), { kind: 'run', config: 'x.yaml', watch: false });
    assert.deepEqual(parseCommandLine(['run', '--config=x.yaml', '-w', '--log-level', 'debug']), { kind: 'run', config: 'x.yaml', logLevel: 'debug', watch: true });
    assert.deepEqual(parseCommandLine(['-wc', 'x.yaml', 'run']), { kind: 'run', config: 'x.yaml', watch: true });
    assert.deepEqual(parseCommandLine(['validate', '-c', 'x.yaml']), { kind: 'validate', config: 'x.yaml', watch: false });
    assert.deepEqual(parseCommandLine([]), { kind: 'help' });
    assert.deepEqual(parseCommandLine(['run', '--help']), { kind: 'help' });
    assert.deepEqual(parseCommandLine(['-V']), { kind: 'version' });
  });

  test('rejects with a reason and a suggestion', () => {
    assert.equal(err(['run', '--wacth', '-c', 'x.yaml']), 'unknown option --wacth; did you mean --watch?');
    assert.equal(err(['run', '-x', '-c', 'x.yaml']), 'unknown option -x');
    assert.equal(err(['valdiate', '-c', 'x.yaml']), 'unknown command "valdiate"; did you mean validate?');
    assert.equal(err(['x.yaml']), 'unknown command "x.yaml"; to run a config file: sluice run -c x.yaml');
    assert.equal(err(['run', '-c', 'x.yaml', 'y', 'z']), 'unexpected argument "y" (and 1 more)');
    assert.equal(err(['run', '-c', 'x.yaml', '--', '--watch']), 'unexpected argument "--watch"');
    assert.equal(err(['-c', 'x.yaml']), 'no command given; did you mean "sluice run -c x.yaml"?');
    assert.equal(err(['run']), 'sluice run needs a config file: sluice run -c FILE');
    assert.equal(err(['run', '-c', 'a', '--config', 'b']), '--config is given twice ("a" and "b"); give it once');
    assert.equal(err(['run', '-c', 'x.yaml', '--log-level']), '--log-level needs a value: --log-level LEVEL');
    assert.equal(err(['run', '--config=', '-w']), '--config needs a non-empty value: --config FILE');
    assert.equal(err(['validate', '-c', 'x.yaml', '-w']), '-w is not an option of "sluice validate" (only of "sluice run")');
  });
});
