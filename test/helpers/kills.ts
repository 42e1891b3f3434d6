// The crash-safety drill shared by the e2e tests: run a config that exits at
// the end of its input, SIGKILL it at random points of its output, then let
// one run finish. What must have arrived is the caller's to check.
import assert from 'node:assert/strict';
import { Sluice, waitFor } from './sluice.ts';
import { countLines } from './lines.ts';
import { seeded } from './random.ts';

/**
 * `kills` runs of `config`, each killed with SIGKILL once `out` has grown by
 * a random share (up to `share`) of what is left of `lines`; then a run to
 * its end, which must exit 0.
 */
export async function killAtRandomPoints(config: string, out: string, opts: { lines: number; kills: number; seed: number; share: number }): Promise<void> {
  const random = seeded(opts.seed);
  for (let kill = 1; kill <= opts.kills; kill++) {
    const s = Sluice.run(config);
    const floor = countLines(out);
    const target = floor + Math.floor(random() * (opts.lines - floor) * opts.share) + 1;
    await waitFor(() => countLines(out) >= target || s.proc.exitCode !== null, `output to reach ${target} lines`, { everyMs: 5 });
    s.kill('SIGKILL');
    await s.exit();
  }
  const s = Sluice.run(config);
  const { code } = await s.exit();
  assert.equal(code, 0, s.stderrText.join('\n'));
}
