// Fluent Bit's config dialect in the loader (issue 11): YAML and classic
// .conf read into the same model; env:/@SET; includes; parsers, multiline
// parsers and parsers_file; filters checked against a registry; keys in any
// case. Through loadConfig/parseConfig, without the CLI.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig, parseConfig, type LoadOptions, type SluiceConfig } from '../../host/config/load.ts';
import { readClassic, ruleTokens } from '../../host/config/classic.ts';
import { normalizeKey, SourceText } from '../../host/config/source.ts';
import type { FilterKind } from '../../host/filters/filter.ts';
import { FIXTURES, tempDir } from '../helpers/sluice.ts';

const DIALECT = join(FIXTURES, 'configs', 'dialect');
const NO_ENV: NodeJS.ProcessEnv = {};

/** Writes files (name -> content) into a new folder; returns the folder. */
function files(t: { after(fn: () => void): void }, contents: { [name: string]: string }): string {
  const dir = tempDir('sluice-dialect-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(contents)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function load(file: string, env: NodeJS.ProcessEnv = NO_ENV, opts: LoadOptions = {}): SluiceConfig {
  const { config, issues } = loadConfig(file, env, opts);
  assert.deepEqual(issues.map(String), []);
  return config!;
}

/** Issues as "file:line:col: path: message", files relative to dir. */
function problems(file: string, dir: string, env: NodeJS.ProcessEnv = NO_ENV, opts: LoadOptions = {}): string[] {
  const { config, issues } = loadConfig(file, env, opts);
  assert.equal(config, undefined);
  return issues.map((i) => String(i).split(`${dir}/`).join(''));
}

/** The model without positions and file names. */
function model(c: SluiceConfig) {
  return {
    service: { ...c.service, parsers_file: c.service.parsers_file?.length },
    inputs: c.inputs,
    filters: c.filters.map((f) => ({ ...f, match: f.match.source })),
    outputs: c.outputs.map((o) => ({ ...o, match: o.match.source })),
    parsers: c.parsers,
    multilineParsers: c.multilineParsers,
  };
}

const PIPELINE_OK = '[INPUT]\n    Name dummy\n[OUTPUT]\n    Name null\n    Match *\n';

describe('YAML and classic .conf', () => {
  test('a Fluent Bit YAML config and the same config in classic form load into equal models', () => {
    const yaml = load(join(DIALECT, 'fluent-bit.yaml'));
    const conf = load(join(DIALECT, 'fluent-bit.conf'));
    assert.deepEqual(model(conf), model(yaml));
    assert.equal(yaml.format, 'yaml');
    assert.equal(conf.format, 'classic');
    assert.deepEqual(conf.files.map((f) => f.slice(DIALECT.length + 1)), ['fluent-bit.conf', 'inc/outputs.conf', 'inc/more/null.conf', 'parsers.conf']);
    assert.deepEqual(yaml.files.map((f) => f.slice(DIALECT.length + 1)), ['fluent-bit.yaml', 'inc/outputs.yaml', 'inc/more/null.yaml', 'parsers.yaml']);
  });

  test('the model holds what Fluent Bit would make of it', () => {
    const c = load(join(DIALECT, 'fluent-bit.conf'));
    assert.equal(c.service.flush, 2);
    assert.equal(c.service.log_level, 'warn');
    assert.equal(c.service.http_server, true);
    assert.equal(c.service.http_port, 2021);
    assert.equal(c.service.grace, 3, 'service keys of included files are merged');
    assert.deepEqual(c.service.parsers_file, [join(DIALECT, 'parsers.conf')]);
    const [tail, dummy] = c.inputs;
    assert.equal(tail!.kind, 'tail');
    assert.equal(tail!.tag, 'app.*');
    assert.equal(tail!.memBufLimit, 5 * 1024 * 1024);
    assert.deepEqual(tail!.values.path, ['/var/log/app/*.log']);
    assert.equal(tail!.values.refresh_interval, 5);
    assert.equal(tail!.values.read_from_head, true);
    assert.equal(tail!.values.db, '/tmp/sluice-dialect-tail.db');
    assert.deepEqual([dummy!.kind, dummy!.instance, dummy!.values.rate], ['dummy', 'beat', 2]);
    assert.deepEqual(c.outputs.map((o) => [o.plugin, o.instance, o.retryLimit, o.workers, o.pluginConfig]), [
      ['stdout', 'stdout.0', Infinity, 2, { json_date_key: 'ts' }],
      ['null', 'null.0', 5, 1, {}],
    ]);
    assert.equal(c.outputs[1]!.match.test('heartbeat'), true);
    assert.deepEqual(c.parsers.map((p) => [p.name, p.format]), [['apache_error', 'regex'], ['json_time', 'json']]);
    assert.deepEqual(c.parsers[1], { name: 'json_time', format: 'json', time_key: 'time', time_format: '%d/%b/%Y:%H:%M:%S %z', time_keep: 'On' });
    assert.deepEqual(c.multilineParsers, [{
      name: 'multiline-regex-test', type: 'regex', flush_timeout: '1000',
      rules: [
        { state: 'start_state', regex: '/([a-zA-Z]+ \\d+ \\d+\\:\\d+\\:\\d+)(.*)/', next_state: 'cont' },
        { state: 'cont', regex: '/^\\s+at.*/', next_state: 'cont' },
      ],
    }]);
  });

  test('locate() finds a merged path in the file it came from, with the key as written', () => {
    const c = load(join(DIALECT, 'fluent-bit.conf'));
    const out = c.locate([...c.outputs[0]!.path, 'json_date_key'], 'rejected');
    assert.equal(String(out).replace(`${DIALECT}/`, ''), 'inc/outputs.conf:5:5: pipeline.outputs[0].Json_Date_Key: rejected');
    const parser = c.locate(['parsers', 1, 'time_format'], 'bad');
    assert.equal(String(parser).replace(`${DIALECT}/`, ''), 'parsers.conf:11:5: parsers[1].Time_Format: bad');
  });

  test('format by content when the extension says nothing', (t) => {
    const dir = files(t, { 'fluent-bit': `# classic\n\n${PIPELINE_OK}`, 'sluice.cfg': 'pipeline:\n  inputs: [{name: dummy}]\n  outputs: [{name: stdout, match: "*"}]\n' });
    assert.equal(load(join(dir, 'fluent-bit')).format, 'classic');
    assert.equal(load(join(dir, 'sluice.cfg')).format, 'yaml');
  });

  test('classic lines: values with spaces and #, comments anywhere, tabs, CRLF, [INPUTS] as [INPUT]', (t) => {
    const dir = files(t, {
      'a.conf': '#top\r\n[INPUTS]\r\n\tName\tdummy\r\n    # indented comment\r\n    Dummy   {"log": "a b  # not a comment"}  \r\n[OUTPUT]\r\n    Name null\r\n    Match *\r\n',
    });
    const c = load(join(dir, 'a.conf'));
    assert.equal(c.inputs[0]!.values.dummy, '{"log": "a b  # not a comment"}');
  });

  test('classic syntax errors, each at its line', (t) => {
    const dir = files(t, { 'a.conf': '  Name x\n[INPUT]\n    Name\n    [GROUP]\nKey value\n[NOPE]\n    Name x\n@INCLUDE\n@SET novalue\n@LOAD x\n[MULTILINE_PARSER]\n    name m\n    type regex\n    rule "just-one"\n' });
    assert.deepEqual(problems(join(dir, 'a.conf'), dir), [
      'a.conf:1:3: a "Key Value" line before any [SECTION] header',
      'a.conf:3:5: pipeline.inputs[0].Name: the key has no value: write "Key Value" on one line',
      'a.conf:4:5: groups (a [NAME] inside a section) are not supported',
      'a.conf:5:1: expected a [SECTION] header, an indented "Key Value" line, @INCLUDE or @SET',
      'a.conf:6:2: unknown section [NOPE]; sluice knows [SERVICE], [INPUT], [FILTER], [OUTPUT], [PARSER], [MULTILINE_PARSER]',
      'a.conf:8:1: @INCLUDE needs a file or a glob: @INCLUDE inputs/*.conf',
      'a.conf:9:6: @SET needs a variable and its value: @SET NAME=value',
      'a.conf:10:1: unknown command @LOAD; the classic format has @INCLUDE and @SET',
      'a.conf:14:10: multiline_parsers[0].rule: a rule is a state, a regex and optionally the next state, each in double quotes: rule "start_state" "/^\\d+/" "cont"',
    ]);
  });

  test('a key given twice in a classic section that takes one value', (t) => {
    const dir = files(t, { 'a.conf': '[INPUT]\n    Name tail\n    Path /a.log\n    path /b.log\n[OUTPUT]\n    Name null\n    Match *\n' });
    assert.deepEqual(problems(join(dir, 'a.conf'), dir), ['a.conf:4:10: pipeline.inputs[0].Path[1]: Path is given 2 times, but takes one value (only multiline.parser may repeat)']);
  });

  test('rule tokens: quoted or bare, \\" inside quotes', () => {
    assert.deepEqual(ruleTokens('"start_state"  "/a b\\"c/"   cont').map((x) => x.text), ['start_state', '/a b"c/', 'cont']);
    assert.deepEqual(ruleTokens('cont /x/').map((x) => x.text), ['cont', '/x/']);
  });

  test('readClassic keeps every key and value position', () => {
    const { items, issues } = readClassic(new SourceText('x.conf', '[OUTPUT]\n    Name  file\n'));
    assert.deepEqual(issues, []);
    const s = items[0]!;
    assert.equal(s.kind, 'section');
    if (s.kind !== 'section') return;
    const e = s.node.entries[0]!;
    assert.deepEqual([e.key, e.norm, e.keyAt.offset, e.value.at!.offset, e.value.at!.path], ['Name', 'name', 13, 19, ['pipeline', 'outputs', 0, 'Name']]);
  });
});

describe('case-insensitive keys', () => {
  test('normalizeKey: lowercase; in YAML, camelCase as Fluent Bit reads it', () => {
    assert.equal(normalizeKey('Mem_Buf_Limit', 'yaml'), 'mem_buf_limit');
    assert.equal(normalizeKey('memBufLimit', 'yaml'), 'mem_buf_limit');
    assert.equal(normalizeKey('storage.maxChunksUp', 'yaml'), 'storage.max_chunks_up');
    assert.equal(normalizeKey('HTTP_Server', 'yaml'), 'http_server');
    assert.equal(normalizeKey('memBufLimit', 'classic'), 'membuflimit');
  });

  test('section names, plugin names and words in any case; plugin keys reach the plugin lowercased', () => {
    const { config, issues } = parseConfig('Pipeline:\n  Inputs:\n    - Name: Dummy\n      Storage.Type: Memory\n  Outputs:\n    - Name: Stdout\n      Match: "*"\n      Json_Date_Key: t\n', '/nonexistent/x.yaml', NO_ENV);
    assert.deepEqual(issues.map(String), []);
    assert.equal(config!.inputs[0]!.kind, 'dummy');
    assert.equal(config!.inputs[0]!.instance, 'dummy.0');
    assert.equal(config!.inputs[0]!.storage, 'memory');
    assert.deepEqual(config!.outputs[0]!.pluginConfig, { json_date_key: 't' });
  });
});

describe('variables: env: and @SET, then the environment', () => {
  test('env: and @SET win over the environment, as in Fluent Bit', () => {
    for (const f of ['fluent-bit.yaml', 'fluent-bit.conf']) {
      const c = load(join(DIALECT, f), { LOG_DIR: '/elsewhere' });
      assert.deepEqual(c.inputs[0]!.values.path, ['/var/log/app/*.log'], f);
    }
  });

  test('the environment, ${HOSTNAME} from the host name, env: as a list, file:// values', (t) => {
    const dir = files(t, {
      secret: 'from-a-file\n',
      'a.yaml': `env:\n  - name: ALIAS\n    value: from-list\nincludes: [b.conf]\npipeline:\n  inputs:\n    - name: dummy\n      alias: \${ALIAS}\n    - name: dummy\n      tag: \${HOSTNAME}.\${FROM_ENV}.\${SECRET}\n  outputs:\n    - name: stdout\n      match: '*'\n`,
    });
    writeFileSync(join(dir, 'b.conf'), `@SET SECRET=file://${join(dir, 'secret')}\n`);
    const c = load(join(dir, 'a.yaml'), { FROM_ENV: 'env' });
    assert.equal(c.inputs[0]!.instance, 'from-list');
    assert.equal(c.inputs[1]!.tag, `${hostname()}.env.from-a-file`);
  });

  test('an unset variable is an error where it is used, in an included file too', (t) => {
    const dir = files(t, { 'a.conf': `@INCLUDE b.conf\n${PIPELINE_OK}`, 'b.conf': '[SERVICE]\n    Log_Level ${NOPE_NOT_SET}\n' });
    assert.deepEqual(problems(join(dir, 'a.conf'), dir), ['b.conf:2:15: service.Log_Level: environment variable NOPE_NOT_SET is not set (write ${NOPE_NOT_SET:-default} for a fallback)']);
  });
});

describe('includes', () => {
  test('classic: globs in name order; from the including file, else from the main file\'s folder', (t) => {
    const dir = files(t, {
      'main.conf': '@INCLUDE conf.d/*.conf\n[OUTPUT]\n    Name null\n    Match *\n',
      'conf.d/b.conf': '[INPUT]\n    Name dummy\n    Alias b\n',
      'conf.d/a.conf': '[INPUT]\n    Name dummy\n    Alias a\n@INCLUDE extra/c.conf\n',
      'extra/c.conf': '[INPUT]\n    Name dummy\n    Alias c\n',
    });
    assert.deepEqual(load(join(dir, 'main.conf')).inputs.map((i) => i.instance), ['a', 'c', 'b']);
  });

  test('YAML: an included file\'s items go where includes: is; a glob that matches nothing includes nothing', (t) => {
    const dir = files(t, {
      'main.yaml': 'pipeline:\n  inputs:\n    - {name: dummy, alias: first}\nincludes:\n  - inc/in.yaml\n  - none/*.yaml\n',
      'inc/in.yaml': 'pipeline:\n  inputs:\n    - {name: dummy, alias: second}\n  outputs:\n    - {name: stdout, match: "*"}\n',
    });
    assert.deepEqual(load(join(dir, 'main.yaml')).inputs.map((i) => i.instance), ['first', 'second']);
  });

  test('a missing file, a file included twice, a cycle: errors at the include', (t) => {
    const dir = files(t, {
      'main.conf': `@INCLUDE missing.conf\n@INCLUDE a.conf\n@INCLUDE a.conf\n${PIPELINE_OK}`,
      'a.conf': '@INCLUDE b.conf\n',
      'b.conf': '# comment\n@INCLUDE a.conf\n',
    });
    const p = problems(join(dir, 'main.conf'), dir);
    assert.equal(p.length, 3, p.join('\n'));
    assert.match(p[0]!, /^main\.conf:1:10: cannot read the included file: ENOENT/);
    assert.equal(p[1], 'main.conf:3:10: a.conf is already included (at main.conf:2); a file may be included once');
    assert.equal(p[2], 'b.conf:2:10: include cycle: a.conf → b.conf → a.conf');
  });
});

describe('parsers, multiline_parsers, parsers_file', () => {
  test('parsers_file entries add up, from YAML lists and repeated classic keys; they come before parsers:', (t) => {
    const dir = files(t, {
      'main.conf': `[SERVICE]\n    Parsers_File p1.conf\n    Parsers_File sub/p2.yaml\n${PIPELINE_OK}`,
      'p1.conf': '[PARSER]\n    Name one\n    Format json\n    Decode_Field_As escaped log\n    Decode_Field_As json log\n',
      'sub/p2.yaml': 'parsers:\n  - name: two\n    format: logfmt\n',
      'main.yaml': 'service:\n  parsers_file: [p1.conf]\nparsers:\n  - {name: three, format: ltsv}\npipeline:\n  inputs: [{name: dummy}]\n  outputs: [{name: stdout, match: "*"}]\n',
    });
    const c = load(join(dir, 'main.conf'));
    assert.deepEqual(c.service.parsers_file, [join(dir, 'p1.conf'), join(dir, 'sub/p2.yaml')]);
    assert.deepEqual(c.parsers, [{ name: 'one', format: 'json', decode_field_as: ['escaped log', 'json log'] }, { name: 'two', format: 'logfmt' }]);
    assert.deepEqual(load(join(dir, 'main.yaml')).parsers.map((p) => p.name), ['one', 'three']);
  });

  test('each parser needs a name and a format; names are unique; a parsers file holds only parsers', (t) => {
    const dir = files(t, {
      'main.yaml': 'service:\n  parsers_file: [p.conf, missing.conf]\nparsers:\n  - name: dup\n    format: json\n  - Format: json\n  - name: [a, b]\n    format: json\nmultiline_parsers:\n  - name: m\n    rules:\n      - {state: start_state}\npipeline:\n  inputs: [{name: dummy}]\n  outputs: [{name: stdout, match: "*"}]\n',
      'p.conf': '[PARSER]\n    Name dup\n    Format regex\n[INPUT]\n    Name dummy\n',
    });
    assert.deepEqual(problems(join(dir, 'main.yaml'), dir), [
      "main.yaml:2:26: service.parsers_file[1]: cannot read the parsers file: ENOENT: no such file or directory, lstat 'missing.conf'",
      'main.yaml:4:11: parsers[0].name: parser "dup" is defined twice (first at p.conf:2)',
      'main.yaml:6:5: parsers[1].name: required key is missing',
      'main.yaml:7:11: parsers[2].name: must be one value, not a list',
      'main.yaml:10:5: multiline_parsers[0].type: required key is missing',
      'main.yaml:12:9: multiline_parsers[0].rules[0].regex: required key is missing',
      'p.conf:1:1: parsers[0].regex: required with format regex',
      'p.conf:4:1: a parsers file holds only [PARSER] and [MULTILINE_PARSER] sections, not [INPUT]',
    ]);
  });

  test('the parser check hook: its errors land at the key as written', (t) => {
    const dir = files(t, { 'main.conf': `[SERVICE]\n    Parsers_File p.conf\n${PIPELINE_OK}`, 'p.conf': '[PARSER]\n    Name   x\n    Format regex\n    Regex  ^(unclosed\n' });
    const seen: unknown[] = [];
    const opts: LoadOptions = {
      checkParser: (def) => {
        seen.push(def);
        return def.format === 'regex' ? [{ key: 'regex', message: 'does not compile' }] : [];
      },
    };
    assert.deepEqual(problems(join(dir, 'main.conf'), dir, NO_ENV, opts), ['p.conf:4:12: parsers[0].Regex: does not compile']);
    assert.deepEqual(seen, [{ name: 'x', format: 'regex', regex: '^(unclosed' }]);
  });
});

describe('filters, checked against the filter registry', () => {
  const grep: FilterKind = {
    description: 'a fake grep for the loader tests',
    spec: {
      regex: { type: 'string', description: 'KEY REGEX' },
      exclude: { type: 'string', description: 'KEY REGEX' },
      logical_op: { type: 'string', default: 'and', oneOf: ['and', 'or'], description: 'and/or' },
      limit: { type: 'int', description: 'an int, repeatable', min: 1 },
    },
    repeatable: ['regex', 'exclude', 'limit'],
    create() {
      return { filter: (e) => e };
    },
  };
  const opts: LoadOptions = { filters: { grep } };

  test('classic repeated keys and YAML lists give the same filter config', (t) => {
    const dir = files(t, {
      'a.conf': `[FILTER]\n    Name       Grep\n    Match      app.*\n    Regex      log aa\n    Regex      log bb\n    Logical_Op OR\n${PIPELINE_OK}`,
      'a.yaml': 'pipeline:\n  inputs: [{name: dummy}]\n  filters:\n    - Name: grep\n      Match: app.*\n      Regex: [log aa, log bb]\n      logical_op: or\n  outputs: [{name: "null", match: "*"}]\n',
    });
    const conf = load(join(dir, 'a.conf'), NO_ENV, opts);
    const yaml = load(join(dir, 'a.yaml'), NO_ENV, opts);
    assert.deepEqual(model(conf).filters, model(yaml).filters);
    assert.deepEqual(model(conf).filters, [{ kind: 'grep', instance: 'grep.0', match: globOf('app.*'), values: { regex: ['log aa', 'log bb'], exclude: [], logical_op: 'or', limit: [] }, path: ['pipeline', 'filters', 0] }]);
  });

  test('one value of a repeatable key is a list of one; alias names the instance', (t) => {
    const dir = files(t, { 'a.conf': `[FILTER]\n    Name  grep\n    Alias only-a\n    Match_Regex ^a$\n    Exclude log x\n    Limit 3\n${PIPELINE_OK}` });
    const f = load(join(dir, 'a.conf'), NO_ENV, opts).filters[0]!;
    assert.deepEqual([f.instance, f.values.exclude, f.values.limit, f.match.test('a')], ['only-a', ['log x'], [3], true]);
  });

  test('unknown filters (with did-you-mean), missing match, bad values, repeated single keys, clashing names', (t) => {
    const dir = files(t, {
      'a.conf': [
        '[FILTER]', '    Name gerp', '    Match *',
        '[FILTER]', '    Name kubernetes', '    Match *',
        '[FILTER]', '    Name grep', '    Regex log x',
        '[FILTER]', '    Name grep', '    Match *', '    Limit 2', '    Limit zero', '    Logical_Op and', '    Logical_Op xor', '    Alias dummy.0',
        PIPELINE_OK,
      ].join('\n'),
    });
    assert.deepEqual(problems(join(dir, 'a.conf'), dir, NO_ENV, opts), [
      'a.conf:2:10: pipeline.filters[0].Name: unknown filter "gerp"; did you mean "grep"?',
      'a.conf:5:10: pipeline.filters[1].Name: unknown filter "kubernetes"; known filters: grep',
      'a.conf:7:1: pipeline.filters[2]: a filter needs match (a glob such as "*" or "app.*") or match_regex, or it sees no events',
      'a.conf:14:11: pipeline.filters[3].Limit[1]: must be an integer, got "zero"',
      'a.conf:16:16: pipeline.filters[3].Logical_Op[1]: Logical_Op is given 2 times, but takes one value (only regex, exclude, limit may repeat)',
      'a.conf:17:5: pipeline.filters[3].Alias: instance name "dummy.0" is used twice; aliases must be unique',
    ]);
  });

  test('with no filters registered (today), any filter is an error', (t) => {
    const dir = files(t, { 'a.conf': `[FILTER]\n    Name grep\n    Match *\n${PIPELINE_OK}` });
    assert.deepEqual(problems(join(dir, 'a.conf'), dir, NO_ENV, { filters: {} }), ['a.conf:2:10: pipeline.filters[0].Name: unknown filter "grep": this version of sluice has no built-in filters yet']);
  });
});

function globOf(glob: string): string {
  return parseConfig(`pipeline:\n  inputs: [{name: dummy}]\n  outputs: [{name: stdout, match: '${glob}'}]\n`, '/nonexistent/x.yaml', NO_ENV).config!.outputs[0]!.match.source;
}
