// Fluent Bit's config dialect through the real CLI (issue 11): a Fluent Bit
// config, YAML or classic .conf, with includes and parsers files, validates
// unchanged; errors in a .conf file and in included files name their own
// file and line; keys are case-insensitive and errors quote them as written;
// `sluice validate` reports host and plugin problems together, in file and
// line order.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Sluice, tempDir } from '../helpers/sluice.ts';

const DIR = join(FIXTURES, 'configs', 'dialect');

async function validate(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; errors: string[]; stdout: string }> {
  const s = new Sluice(['validate', '-c', file], { env: { LOG_DIR: undefined, ...env } });
  const closed = once(s.proc, 'close');
  const { code } = await s.exit();
  await closed;
  return { code, errors: s.stderrText, stdout: s.stdout };
}

/** Exit 2 and exactly these lines (files relative to the dialect fixtures' folder), then the summary. */
async function assertProblems(file: string, expected: string[]): Promise<void> {
  const r = await validate(file);
  const report = `stderr was:\n${r.errors.join('\n')}`;
  assert.equal(r.code, 2, report);
  assert.equal(r.stdout, '');
  assert.deepEqual(r.errors.map((l) => l.split(`${DIR}/`).join('')), [
    ...expected,
    `${expected.length} problem${expected.length === 1 ? '' : 's'} in the config; nothing was started`,
  ], report);
}

describe('sluice validate: Fluent Bit configs load unchanged', { concurrency: 2 }, () => {
  for (const name of ['fluent-bit.yaml', 'fluent-bit.conf']) {
    test(`${name}: Fluent Bit's key spellings, env or @SET, nested includes and a parsers_file`, async () => {
      const file = join(DIR, name);
      const r = await validate(file);
      assert.equal(r.code, 0, `stderr was:\n${r.errors.join('\n')}`);
      assert.deepEqual(r.errors, []);
      assert.equal(r.stdout, `${file}: ok (2 inputs, 2 outputs)\n`);
    });
  }

  test('a classic config without the .conf extension is recognised by its content', async (t) => {
    const dir = tempDir('sluice-dialect-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'fluent-bit');
    writeFileSync(file, '# no extension\n[INPUT]\n    Name  dummy\n[OUTPUT]\n    Name  null\n    Match *\n');
    const r = await validate(file);
    assert.equal(r.code, 0, `stderr was:\n${r.errors.join('\n')}`);
    assert.equal(r.stdout, `${file}: ok (1 input, 1 output)\n`);
  });
});

describe('sluice validate: errors in the dialect name their own file, line and key', { concurrency: 4 }, () => {
  test('a .conf file and the file it includes: host keys and plugin keys at once, sorted by file and line', async () => {
    await assertProblems(join(DIR, 'errors', 'main.conf'), [
      'errors/main.conf:4:5: service.Flsuh: unknown key; did you mean "flush"?',
      'errors/main.conf:8:1: pipeline.outputs[0].path: required key is missing',
      'errors/main.conf:11:14: pipeline.outputs[0].Workers: must be an integer, got "zero"',
      'errors/main.conf:12:5: pipeline.outputs[0].Pathh: unknown key; did you mean "path"?',
      'errors/inputs.conf:4:20: pipeline.inputs[0].Mem_Buf_Limit: must be a size in bytes or like "512K", "2M", "1G", got "lots"',
    ]);
  });

  test('keys in any case; errors quote them as written; keys that differ only in case are duplicates', async () => {
    await assertProblems(join(DIR, 'errors', 'case.yaml'), [
      'errors/case.yaml:3:3: Service.Flsuh: unknown key; did you mean "flush"?',
      'errors/case.yaml:8:7: pipeline.Inputs[0].tag: duplicate key: the same as "Tag" on line 7 (keys are case-insensitive)',
      'errors/case.yaml:12:7: pipeline.Outputs[0].Json_Date_Kye: unknown key; did you mean "json_date_key"?',
    ]);
  });

  test('an include cycle is an error at the include that closes it', async () => {
    await assertProblems(join(DIR, 'errors', 'cycle-a.yaml'), [
      'errors/cycle-b.yaml:3:5: includes[0]: include cycle: cycle-a.yaml → cycle-b.yaml → cycle-a.yaml',
    ]);
  });

  test('a classic config named *.yaml is told so, not given a YAML syntax error', async () => {
    await assertProblems(join(DIR, 'errors', 'classic-named.yaml'), [
      "errors/classic-named.yaml:2:1: this file is in Fluent Bit's classic format, not YAML (YAML syntax error: Unexpected scalar at node end); name it *.conf to read it as classic",
    ]);
  });

  test('a YAML config named *.conf is told so', async (t) => {
    const dir = tempDir('sluice-dialect-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'errors'));
    const file = join(dir, 'errors', 'sluice.conf');
    writeFileSync(file, '# YAML\n\npipeline:\n  inputs:\n    - name: dummy\n');
    const r = await validate(file);
    assert.equal(r.code, 2);
    assert.deepEqual(r.errors, [
      `${file}:3:1: this file is YAML, not Fluent Bit's classic format: name it *.yaml or *.yml to read it as YAML`,
      '1 problem in the config; nothing was started',
    ]);
  });
});
