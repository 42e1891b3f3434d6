// Where the package's own files are. sluice runs from source in a checkout
// (host/paths.ts) and from JavaScript once built or installed
// (dist/host/paths.js); both find the same package root.
import { fileURLToPath } from 'node:url';

const BUILT = import.meta.url.endsWith('.js');

export const PACKAGE_ROOT = fileURLToPath(new URL(BUILT ? '../../' : '../', import.meta.url));

/** A sibling module's file name in the form this copy of sluice runs: `main.ts` from source, `main.js` built. */
export function moduleFile(stem: string): string {
  return `${stem}.${BUILT ? 'js' : 'ts'}`;
}

/** The bundled plugins' folder: `plugins/` from source, `dist/plugins/` built (host/ and plugins/ are siblings in both). */
export const BUNDLED_PLUGINS_DIR = fileURLToPath(new URL('../plugins/', import.meta.url));
