// `sluice plugin check`: every bundled plugin passes, through the real CLI
// (its --json output and exit status); and each broken mode of
// test/fixtures/plugins/broken/plugin.ts fails exactly the rule it breaks,
// and only that rule. The broken modes are judged on checkPlugin's results
// in this process (what --json prints), which spares each of them a CLI
// start; one goes through the CLI too. The checks run a few at a time: each
// one starts five plugin processes, and the machine has two cores.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, MAIN, ROOT, Sluice, runCommand, tempDir, writeConfig } from '../helpers/sluice.ts';
import { RULES, checkPlugin, formatResults, type RuleResult } from '../../host/plugin-kit/check.ts';
import { MODES, type Mode } from '../fixtures/plugins/broken/modes.ts';

const BROKEN = join(FIXTURES, 'plugins/broken/plugin.ts');
const ALL_RULES = RULES.map((r) => r.rule);
/** Bounds the CLI itself: the checker bounds its own work at 90 s. */
const CLI_CAP_MS = 180_000;

/** `sluice plugin check --json [--config k=v ...] -- node <plugin> [args]`; returns the exit code and the results by rule. */
async function check(plugin: string[], config: string[] = []): Promise<{ code: number | null; results: Map<string, RuleResult>; run: Awaited<ReturnType<typeof runCommand>> }> {
  const run = await runCommand(process.execPath, [MAIN, 'plugin', 'check', '--json', ...config.flatMap((c) => ['--config', c]), '--', process.execPath, ...plugin], CLI_CAP_MS);
  let parsed: { command: string[]; results: RuleResult[] };
  try {
    parsed = JSON.parse(run.stdout);
  } catch (err) {
    throw new Error(`--json printed no JSON (${(err as Error).message}); exit ${run.code}; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
  assert.deepEqual(parsed.command, [process.execPath, ...plugin]);
  assert.deepEqual(parsed.results.map((r) => r.rule), ALL_RULES, 'every rule, in order');
  for (const r of parsed.results) assert.ok(['pass', 'fail', 'skip'].includes(r.status), `${r.rule}: ${r.status}`);
  return { code: run.code, results: new Map(parsed.results.map((r) => [r.rule, r])), run };
}

function by(results: Map<string, RuleResult>, status: RuleResult['status']): string[] {
  return [...results.values()].filter((r) => r.status === status).map((r) => r.rule);
}

function show(results: Map<string, RuleResult>): string {
  return formatResults([...results.values()]);
}

/** Passes every rule but the skips given. */
function assertPasses(got: Awaited<ReturnType<typeof check>>, skips: string[]): void {
  assert.deepEqual(by(got.results, 'fail'), [], show(got.results));
  assert.deepEqual(by(got.results, 'skip'), skips, show(got.results));
  assert.equal(got.code, 0, show(got.results));
}

// Only a plugin with a required key can show that it enforces one.
const NO_REQUIRED_KEY = ['configure.rejects-missing-required'];
const STREAM_RULES = ['flush.ok', 'flush.empty', 'flush.10mib', 'flush.concurrent', 'flush.ref', 'flush.ref-unreadable', 'flush.echo-send', 'drain.after-answers', 'stop.half-close'];

/** The rules a broken mode cannot have judged, because the rule it breaks comes first. */
const SKIPPED_BY: { [m in Mode]?: string[] } = {
  'config-refused': STREAM_RULES,
  'limit-4mib': ['flush.ref', 'flush.ref-unreadable', 'drain.after-answers', 'stop.half-close'],
  'flush-hang': STREAM_RULES.filter((r) => r !== 'flush.ok'),
};

describe('sluice plugin check', { concurrency: 4 }, () => {
  // The modes that make the checker wait out a bound first, so their waits overlap the others' work.
  const SLOW: Mode[] = ['flush-hang', 'shutdown-ignored', 'stdin-ignored', 'half-close-ignored'];
  // One broken mode goes through the CLI, for its exit status on a failure.
  const VIA_CLI: Mode = 'health-empty-unknown';
  const modes = (Object.entries(MODES) as [Mode, string | undefined][]).sort(([a], [b]) => Number(SLOW.includes(b)) - Number(SLOW.includes(a)));
  for (const [mode, rule] of modes) {
    if (!rule) continue;
    test(`a plugin in mode ${mode} fails ${rule}, and only that${mode === VIA_CLI ? ' (through the CLI: exit 1)' : ''}`, async () => {
      let results: Map<string, RuleResult>;
      if (mode === VIA_CLI) {
        const got = await check([BROKEN, mode], ['target=somewhere']);
        assert.equal(got.code, 1, show(got.results));
        results = got.results;
      } else {
        const list = await checkPlugin([process.execPath, BROKEN, mode], { config: { target: 'somewhere' } });
        results = new Map(list.map((r) => [r.rule, r]));
      }
      assert.deepEqual(by(results, 'fail'), [rule], show(results));
      assert.ok(results.get(rule)!.reason, 'a failure says why');
      assert.deepEqual(by(results, 'skip'), SKIPPED_BY[mode] ?? [], show(results));
    });
  }

  for (const plugin of ['null', 'stdout', 'counter']) {
    test(`the bundled ${plugin} plugin passes`, async () => {
      assertPasses(await check([join(ROOT, 'plugins', plugin, 'main.ts')]), NO_REQUIRED_KEY);
    });
  }

  test('the bundled file plugin passes, given its path', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'out.jsonl');
      const got = await check([join(ROOT, 'plugins/file/main.ts')], [`path=${path}`]);
      assertPasses(got, []);
      assert.match(readFileSync(path, 'utf8'), /sluice plugin check 1/, 'the checker\'s events were written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the bundled forward plugin passes, against a sluice forward input (acks on)', async () => {
    const dir = tempDir();
    // The receiver takes the checker's 10 MiB chunk in one frame.
    const receiver = Sluice.run(writeConfig(dir, `
pipeline:
  inputs:
    - { name: forward, listen: 127.0.0.1, port: 0, buffer_max_size: 32M }
  outputs:
    - { name: 'null', match: '*' }
`));
    try {
      const { port } = await receiver.waitForLog((l) => l.msg === 'forward input listening', 'the receiver to listen');
      assertPasses(await check([join(ROOT, 'plugins/forward/main.ts')], [`port=${port}`, 'require_ack_response=on']), NO_REQUIRED_KEY);
    } finally {
      receiver.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the example levels plugin passes', async () => {
    assertPasses(await check([join(ROOT, 'examples/plugins/levels.ts')]), NO_REQUIRED_KEY);
  });

  test('a hand-written version 2 plugin that follows every rule passes', async () => {
    const got = await check([BROKEN, 'ok'], ['target=somewhere']);
    assertPasses(got, []);
    assert.equal(got.results.get('version.offered-1-2')!.reason, 'picked 2');
  });

  test('a version 1 plugin passes, and is told it speaks only version 1', async () => {
    const got = await check([BROKEN, 'ok-v1'], ['target=somewhere']);
    assertPasses(got, ['configure.validate-only']);
    assert.match(got.results.get('version.offered-1-2')!.reason!, /picked 1/);
  });

  test('a plugin that does not declare chunk_ref passes; the rules about references are skipped, saying why', async () => {
    const got = await check([BROKEN, 'ok-no-ref'], ['target=somewhere']);
    assertPasses(got, ['flush.ref', 'flush.ref-unreadable']);
    assert.match(got.results.get('flush.ref')!.reason!, /does not declare the chunk_ref capability/);
  });

  test('a command that does not start, without --json: exit 1, handshake.line fails in the table, the rest is skipped', async () => {
    const run = await runCommand(process.execPath, [MAIN, 'plugin', 'check', '--', process.execPath, join(FIXTURES, 'plugins/no-such-plugin.ts')], CLI_CAP_MS);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^FAIL +handshake\.line +.*\n +→ plugin "no-such-plugin" exited before its handshake/m);
    assert.match(run.stdout, /^SKIP +flush\.10mib +/m);
    // Only the rules about what the process printed can be judged.
    assert.match(run.stdout, /^2 passed, 1 failed, 22 skipped$/m);
  });

});

test('formatResults: one line per rule, the reason under it, a summary', () => {
  const text = formatResults([
    { rule: 'a.one', title: 'first', status: 'pass' },
    { rule: 'b.second-rule', title: 'second', status: 'fail', reason: 'it did not' },
    { rule: 'c', title: 'third', status: 'skip', reason: 'not judged' },
  ]);
  assert.equal(text, [
    'PASS  a.one          first',
    'FAIL  b.second-rule  second',
    '                     → it did not',
    'SKIP  c              third',
    '                     → not judged',
    '',
    '1 passed, 1 failed, 1 skipped',
    '',
  ].join('\n'));
});
