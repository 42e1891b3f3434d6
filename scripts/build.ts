// `npm run build`: JavaScript (and, for the SDK, .d.ts) for what npm pack ships.
// The host's build carries its own compiled copy of the SDK (dist/sdk/),
// which the bundled plugins and `sluice plugin check` run on.
//   node scripts/build.ts         the sluice package: dist/{host,plugins,sdk}
//   node scripts/build.ts sdk     the @sluice/sdk package: sdk/dist
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const sdkOnly = process.argv[2] === 'sdk';
const project = sdkOnly ? join(root, 'sdk') : root;
const out = join(project, 'dist');

rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(project, 'tsconfig.build.json')], { stdio: 'inherit' });
// protocol.js finds its .proto files at ../proto/ from itself.
if (!sdkOnly) {
  cpSync(join(root, 'sdk', 'proto'), join(out, 'sdk', 'proto'), { recursive: true });
  // `sluice plugin new` reads its templates next to its own module.
  cpSync(join(root, 'host', 'plugin-kit', 'templates'), join(out, 'host', 'plugin-kit', 'templates'), { recursive: true });
}
