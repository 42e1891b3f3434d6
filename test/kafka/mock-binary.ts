// Builds test/kafka/mock-cluster.c, for the tests (test/helpers/kafka.ts)
// and the bench (tail-kafka); no node:test here, so the bench can use it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./mock-cluster.c', import.meta.url));

let binary: Promise<string> | undefined;

/**
 * The compiled helper: built once per process into a cache directory shared by
 * test files, keyed by the source's hash; built under a temporary name and
 * renamed, so test files compiling at the same time do not see half a binary.
 */
export function mockClusterBinary(): Promise<string> {
  return (binary ??= (async () => {
    const src = readFileSync(SOURCE);
    const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), 'sluice-kafka-mock');
    const out = join(dir, `mock-cluster-${hash}`);
    try {
      if (statSync(out).isFile()) return out;
    } catch {
      // not built yet
    }
    mkdirSync(dir, { recursive: true });
    const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
    try {
      await new Promise<void>((resolve, reject) =>
        execFile('gcc', ['-O2', '-Wall', '-o', tmp, SOURCE, '-lrdkafka', '-lpthread'], (err, _stdout, stderr) =>
          err ? reject(new Error(`compiling ${SOURCE} failed (are gcc and librdkafka-dev installed? scripts/test-deps.sh): ${err.message}\n${stderr}`)) : resolve(),
        ),
      );
      renameSync(tmp, out);
    } finally {
      rmSync(tmp, { force: true });
    }
    return out;
  })());
}

