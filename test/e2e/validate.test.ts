// `sluice validate -c FILE` through the real CLI: every broken config in
// test/fixtures/configs exits 2 with one line naming the file, the exact
// line:column and the key path; a valid one exits 0 and says ok.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../host/config/load.ts';
import { FIXTURES, Sluice, tempDir } from '../helpers/sluice.ts';

const CONFIGS = join(FIXTURES, 'configs');

// Variables the fixtures read; never taken from the environment the tests run in.
const CLEAN_ENV: NodeJS.ProcessEnv = {
  SLUICE_TEST_UNSET_TAG: undefined,
  SLUICE_TEST_PLUGIN: undefined,
  SLUICE_TEST_PORT: undefined,
  SLUICE_TEST_LISTEN: undefined,
  SLUICE_TEST_LOG_DIR: undefined,
};

interface Result {
  file: string;
  code: number | null;
  /** Non-JSON stderr lines: the issues, then the summary. */
  errors: string[];
  stdout: string;
}

async function validate(name: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const file = join(CONFIGS, name);
  const s = new Sluice(['validate', '-c', file], { env: { ...CLEAN_ENV, ...env } });
  // 'exit' can come before the last stderr bytes are read; 'close' waits for the streams.
  const closed = once(s.proc, 'close');
  const { code } = await s.exit();
  await closed;
  return { file, code, errors: s.stderrText, stdout: s.stdout };
}

interface Expected {
  line: number;
  col: number;
  /** The key path; '' for YAML syntax errors, which have none. */
  path: string;
  message: string | RegExp;
}

/** Exit 2, exactly the expected issues in order, then the summary line. */
function assertIssues(r: Result, expected: Expected[]): void {
  const report = `stderr was:\n${r.errors.join('\n')}`;
  assert.equal(r.code, 2, `exit code; ${report}`);
  assert.equal(r.stdout, '', 'nothing on stdout for an invalid config');
  const n = expected.length;
  assert.equal(r.errors.length, n + 1, `expected ${n} issue line(s) and a summary; ${report}`);
  expected.forEach((e, i) => {
    const line = r.errors[i]!;
    const prefix = `${r.file}:${e.line}:${e.col}: ${e.path ? `${e.path}: ` : ''}`;
    assert.ok(line.startsWith(prefix), `issue ${i}: expected to start with\n  ${prefix}\ngot\n  ${line}`);
    const message = line.slice(prefix.length);
    if (typeof e.message === 'string') assert.equal(message, e.message, `issue ${i}: ${line}`);
    else assert.match(message, e.message, `issue ${i}: ${line}`);
  });
  assert.equal(r.errors[n], `${n} problem${n === 1 ? '' : 's'} in the config; nothing was started`);
}

interface Case extends Expected {
  title: string;
  fixture: string;
}

const CASES: Case[] = [
  {
    title: 'YAML syntax error', fixture: 'yaml-syntax-error.yaml',
    line: 7, col: 12, path: '', message: 'YAML syntax error: Nested mappings are not allowed in compact mappings',
  },
  {
    title: 'duplicate key (a YAML error)', fixture: 'yaml-duplicate-key.yaml',
    line: 5, col: 3, path: '', message: 'YAML syntax error: Map keys must be unique',
  },
  {
    title: 'unknown top-level key, with did-you-mean', fixture: 'unknown-top-level-key.yaml',
    line: 2, col: 1, path: 'servce', message: 'unknown key; did you mean "service"?',
  },
  {
    title: 'unknown service key, with did-you-mean', fixture: 'unknown-service-key.yaml',
    line: 4, col: 3, path: 'service.log_levle', message: 'unknown key; did you mean "log_level"?',
  },
  {
    title: 'bad integer: http_port: abc', fixture: 'bad-int.yaml',
    line: 4, col: 14, path: 'service.http_port', message: 'must be an integer, got "abc"',
  },
  {
    title: 'bad boolean: http_server: maybe', fixture: 'bad-bool.yaml',
    line: 4, col: 16, path: 'service.http_server', message: 'must be a boolean (true/false/on/off), got "maybe"',
  },
  {
    title: 'unknown input name', fixture: 'unknown-input.yaml',
    line: 5, col: 13, path: 'pipeline.inputs[1].name', message: 'unknown input "tial"; did you mean "tail"?',
  },
  {
    title: 'tail without its required path', fixture: 'tail-without-path.yaml',
    line: 4, col: 7, path: 'pipeline.inputs[0].path', message: 'required key is missing',
  },
  {
    title: 'inputs that are not a list, reported once', fixture: 'inputs-not-a-list.yaml',
    line: 4, col: 5, path: 'pipeline.inputs', message: 'must be a list of inputs, each item with a name',
  },
  {
    title: 'output without match or match_regex', fixture: 'output-without-match.yaml',
    line: 8, col: 7, path: 'pipeline.outputs[1]',
    message: 'an output needs match (a glob such as "*" or "app.*") or match_regex, or it receives nothing',
  },
  {
    title: 'unknown output plugin', fixture: 'unknown-output-plugin.yaml',
    line: 6, col: 13, path: 'pipeline.outputs[0].name',
    message: 'unknown plugin "elasticsearch": not bundled (stdout, file, null, counter, kafka, forward) and not declared under plugins:',
  },
  {
    title: 'plugins: command that does not exist', fixture: 'plugin-command-missing.yaml',
    line: 4, col: 14, path: 'plugins.shipper.command',
    message: `plugin command not found or not runnable: ${join(CONFIGS, 'no-such-plugin')} does not exist`,
  },
  {
    title: 'bad retry_limit', fixture: 'bad-retry-limit.yaml',
    line: 8, col: 20, path: 'pipeline.outputs[0].retry_limit', message: 'must be a number, no_limits, false or no_retries, got "sometimes"',
  },
  {
    title: 'match_regex that does not compile', fixture: 'bad-match-regex.yaml',
    line: 7, col: 20, path: 'pipeline.outputs[0].match_regex', message: /^not a valid regular expression: .*Unterminated group/,
  },
  {
    title: '${VAR} without a default and VAR unset', fixture: 'unset-env-var.yaml',
    line: 5, col: 12, path: 'pipeline.inputs[0].tag',
    message: 'environment variable SLUICE_TEST_UNSET_TAG is not set (write ${SLUICE_TEST_UNSET_TAG:-default} for a fallback)',
  },
  {
    title: 'duplicate alias', fixture: 'duplicate-alias.yaml',
    line: 7, col: 7, path: 'pipeline.inputs[1].alias', message: 'instance name "source" is used twice; aliases must be unique',
  },
  {
    title: 'unknown key of the bundled file plugin (found through Describe)', fixture: 'file-plugin-unknown-key.yaml',
    line: 10, col: 7, path: 'pipeline.outputs[0].pathh', message: 'unknown key; did you mean "path"?',
  },
  {
    title: 'a path the file plugin refuses in its validate-only Configure', fixture: 'file-plugin-path-is-directory.yaml',
    line: 9, col: 7, path: 'pipeline.outputs[0].path', message: 'rejected by plugin: /tmp is a directory; path names the file to append to',
  },
  {
    title: 'unknown filter', fixture: 'unknown-filter.yaml',
    line: 6, col: 13, path: 'pipeline.filters[0].name', message: 'unknown filter "grpe"; did you mean "grep"?',
  },
  {
    title: 'a filter rule whose regex does not compile', fixture: 'filter-bad-regex.yaml',
    line: 8, col: 14, path: 'pipeline.filters[0].regex', message: '"(unclosed" is not a valid regular expression: Invalid regular expression: /(unclosed/: Unterminated group',
  },
];

describe('sluice validate: broken configs exit 2 naming file, line:column and key path', { concurrency: 4 }, () => {
  for (const c of CASES) {
    test(c.title, async () => {
      assertIssues(await validate(c.fixture), [c]);
    });
  }

  test('plugins: command that is not executable', async (t) => {
    const dir = tempDir('sluice-validate-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const plugin = join(dir, 'shipper.sh');
    writeFileSync(plugin, '#!/bin/sh\nexit 0\n');
    chmodSync(plugin, 0o644);
    const r = await validate('plugin-command-not-executable.yaml', { SLUICE_TEST_PLUGIN: plugin });
    assertIssues(r, [{
      line: 5, col: 14, path: 'plugins.shipper.command',
      message: `plugin command not found or not runnable: ${plugin} is not executable (chmod +x ${plugin})`,
    }]);
  });

  // validate.ts checks a plugin's own keys against the plugin's Describe
  // only, so a typo of a common output key (retry_limit, workers, ...) gets
  // "known keys: <the plugin's keys>" instead of the suggestion.
  test('typo of a common output key suggests the common key', async () => {
    assertIssues(await validate('output-common-key-typo.yaml'), [{
      line: 9, col: 7, path: 'pipeline.outputs[0].retry_limt', message: 'unknown key; did you mean "retry_limit"?',
    }]);
  });
});

describe('sluice validate: valid configs', { concurrency: 2 }, () => {
  test('a valid config exits 0 and prints ok', async () => {
    const r = await validate('valid.yaml');
    assert.equal(r.code, 0, `stderr was:\n${r.errors.join('\n')}`);
    assert.deepEqual(r.errors, []);
    assert.equal(r.stdout, `${r.file}: ok (2 inputs, 2 outputs)\n`);
  });

  test('name: null is the bundled null plugin, not a missing name', () => {
    const { config, issues } = loadConfig(join(CONFIGS, 'valid.yaml'), {});
    assert.deepEqual(issues.map(String), []);
    assert.deepEqual(config!.outputs.map((o) => [o.plugin, o.instance, o.retryLimit]), [['file', 'file.0', 5], ['null', 'discard', Infinity]]);
    assert.equal(config!.outputs[1]!.match.test('app.api'), true);
    assert.equal(config!.outputs[1]!.match.test('app.db'), false);
  });

  test('${VAR:-default} and on/off booleans are accepted by the CLI', async () => {
    const r = await validate('env-defaults-and-switches.yaml');
    assert.equal(r.code, 0, `stderr was:\n${r.errors.join('\n')}`);
    assert.equal(r.stdout, `${r.file}: ok (1 input, 1 output)\n`);
  });

  test('${VAR:-default} takes the default when VAR is unset, and on/off read as booleans', () => {
    const { config, issues } = loadConfig(join(CONFIGS, 'env-defaults-and-switches.yaml'), {});
    assert.deepEqual(issues.map(String), []);
    assert.equal(config!.service.http_port, 2021);
    assert.equal(config!.service.http_listen, '127.0.0.2');
    assert.equal(config!.service.http_server, true);
    const input = config!.inputs[0]!;
    assert.deepEqual(input.values.path, ['/var/log/app.log']);
    assert.equal(input.values.read_from_head, false);
    assert.equal(input.values.skip_long_lines, true);
  });

  test('${VAR:-default} takes VAR when it is set', () => {
    const env = { SLUICE_TEST_PORT: '8080', SLUICE_TEST_LISTEN: '0.0.0.0', SLUICE_TEST_LOG_DIR: '/srv/logs' };
    const { config, issues } = loadConfig(join(CONFIGS, 'env-defaults-and-switches.yaml'), env);
    assert.deepEqual(issues.map(String), []);
    assert.equal(config!.service.http_port, 8080);
    assert.equal(config!.service.http_listen, '0.0.0.0');
    assert.deepEqual(config!.inputs[0]!.values.path, ['/srv/logs/app.log']);
  });

  test('a set VAR is checked like a literal value, at the line of the ${VAR}', async () => {
    const r = await validate('env-defaults-and-switches.yaml', { SLUICE_TEST_PORT: 'abc' });
    assertIssues(r, [{ line: 4, col: 14, path: 'service.http_port', message: 'must be an integer, got "abc"' }]);
  });
});
