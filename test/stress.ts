// npm run test:stress [-- --runs N]: `npm test` while every core is kept busy
// by a spinning process, N times in a row; stops at the first failure. The
// suite must hold on a busy machine (CI runners, laptops building something
// else), and timing assumptions only show up there.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, not ${values.runs}`);

const hogs: ChildProcess[] = [];
const stopHogs = () => {
  for (const h of hogs.splice(0)) h.kill('SIGKILL');
};
process.on('exit', stopHogs);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

const results: string[] = [];
let failed = false;
for (let run = 1; run <= runs && !failed; run++) {
  for (let i = 0; i < availableParallelism(); i++) hogs.push(spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
  const started = Date.now();
  const test = spawn('npm', ['test'], { stdio: 'inherit' });
  const code: number | null = await new Promise((r) => test.on('close', r));
  stopHogs();
  const took = ((Date.now() - started) / 1000).toFixed(0);
  failed = code !== 0;
  results.push(`run ${run}/${runs}: ${failed ? `FAILED (exit ${code})` : 'passed'} in ${took} s, with ${availableParallelism()} CPU hogs`);
  console.log(`\n# stress ${results.at(-1)}`);
}
console.log(`\n# stress summary\n${results.map((r) => `# ${r}`).join('\n')}`);
process.exitCode = failed ? 1 : 0;
