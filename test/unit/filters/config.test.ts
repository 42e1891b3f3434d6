// The new filters in configs: Fluent Bit's keys in any case and both
// formats, and what the loader checks that a filter's spec cannot (parser
// names, emitter names and storage), each at its key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../host/config/load.ts';
import { diffConfigs } from '../../../host/reload/diff.ts';

const NO_ENV = {};
const yaml = (filters: string, extra = '') => `${extra}pipeline:
  inputs: [{ name: dummy, alias: in }]
  filters:
${filters}
  outputs: [{ name: stdout, match: '*' }]
`;
const issues = (src: string, file = '/nonexistent/x.yaml') => parseConfig(src, file, NO_ENV).issues.map((i) => String(i).replace('/nonexistent/', ''));

test('classic sections with Fluent Bit\'s spelling load: parser, nest, rewrite_tag', () => {
  const { config, issues: errs } = parseConfig(`[INPUT]
    Name dummy
[FILTER]
    Name         parser
    Match        *
    Key_Name     log
    Parser       json
    Parser       logfmt
    Reserve_Data On
[FILTER]
    Name       nest
    Match      *
    Operation  Lift
    Nested_Under k
    Add_Prefix k_
[FILTER]
    Name                  rewrite_tag
    Match                 *
    Rule                  $level ^(error)$ alerts.$1 false
    Rule                  "$msg" "^disk full$" disk true
    Emitter_Name          re
    Emitter_Mem_Buf_Limit 1M
[OUTPUT]
    Name stdout
    Match *
`, '/nonexistent/fluent-bit.conf', NO_ENV);
  assert.deepEqual(errs.map(String), []);
  assert.deepEqual(config!.filters.map((f) => [f.kind, f.values]), [
    ['parser', { key_name: 'log', parser: ['json', 'logfmt'], reserve_data: true, preserve_key: false, unescape_key: false }],
    ['nest', { operation: 'lift', nested_under: 'k', add_prefix: 'k_', wildcard: [] }],
    ['rewrite_tag', { rule: ['$level ^(error)$ alerts.$1 false', '"$msg" "^disk full$" disk true'], emitter_name: 're', emitter_mem_buf_limit: 1024 * 1024, 'emitter_storage.type': 'memory' }],
  ]);
});

test('a parser filter\'s unknown parser is reported at its key, with a guess', () => {
  assert.deepEqual(issues(yaml('    - { name: parser, match: "*", key_name: log, parser: [json, jsno] }')), [
    'x.yaml:4:65: pipeline.filters[0].parser[1]: unknown parser "jsno"; did you mean "json"?',
  ]);
  assert.deepEqual(issues(yaml('    - { name: parser, match: "*", key_name: log }')), ['x.yaml:4:7: pipeline.filters[0].parser: required: the name of at least one parser']);
});

test('rewrite_tag: a bad rule at its key; an emitter name taken by another instance; a filesystem emitter without storage.path', () => {
  assert.match(issues(yaml("    - { name: rewrite_tag, match: '*', rule: '$a (b c false' }"))[0]!, /pipeline\.filters\[0\]\.rule: "\(b" is not a valid regular expression/);
  assert.match(issues(yaml("    - { name: rewrite_tag, match: '*', rule: '$a b c false', emitter_name: in }"))[0]!, /pipeline\.filters\[0\]\.emitter_name: emitter name "in" is already the name of an input/);
  assert.match(issues(yaml("    - { name: rewrite_tag, match: '*', rule: '$a b c false' }\n    - { name: rewrite_tag, match: '*', rule: '$a b c false', alias: x, emitter_name: emitter_for_rewrite_tag.0 }"))[0]!, /filters\[1\]\.emitter_name: emitter name "emitter_for_rewrite_tag.0" is already/);
  assert.match(issues(yaml("    - { name: rewrite_tag, match: '*', rule: '$a b c false', emitter_storage.type: filesystem }"))[0]!, /emitter_storage\.type: filesystem storage needs service\.storage\.path/);
  assert.deepEqual(issues(yaml("    - { name: rewrite_tag, match: '*', rule: '$a b c false', emitter_storage.type: filesystem }", 'service: { storage.path: /tmp/x }\n')), []);
});

test('nest: operation in any case; add_prefix with remove_prefix is refused', () => {
  assert.deepEqual(issues(yaml('    - { name: nest, match: "*", operation: NEST, wildcard: a*, nest_under: x }')), []);
  assert.match(issues(yaml('    - { name: nest, match: "*", operation: nest, wildcard: a*, nest_under: x, add_prefix: p, remove_prefix: q }'))[0]!, /remove_prefix: add_prefix and remove_prefix exclude each other/);
});

test('the reload diff lists filters: a parser filter changes when the parser it names changes', () => {
  const load = (regex: string, filters: string) => parseConfig(yaml(filters, `parsers:\n  - { name: p, format: regex, regex: '${regex}' }\n`), '/nonexistent/x.yaml', NO_ENV).config!;
  const a = load('^(?<a>.*)$', '    - { name: parser, match: "*", key_name: log, parser: p }\n    - { name: grep, match: "*", regex: a b }');
  const b = load('^(?<b>.*)$', '    - { name: parser, match: "*", key_name: log, parser: p }\n    - { name: grep, match: "*", regex: a b }\n    - { name: nest, match: "*", operation: lift, nested_under: k }');
  const d = diffConfigs(a, b).filters;
  assert.deepEqual([d.added.map((f) => f.instance), d.changed.map((f) => f.instance), d.removed, d.unchanged], [['nest.0'], ['parser.0'], [], ['grep.0']]);
  const c = diffConfigs(b, load('^(?<b>.*)$', '    - { name: parser, match: "*", key_name: log, parser: p }')).filters;
  assert.deepEqual([c.added, c.changed, c.removed, c.unchanged], [[], [], ['grep.0', 'nest.0'], ['parser.0']]);
});
