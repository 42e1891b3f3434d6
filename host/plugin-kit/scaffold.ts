// `sluice plugin new`: writes a plugin project that installs, passes its own
// test and passes `sluice plugin check` as generated. The files are in
// templates/<lang>/ (`.tmpl`, so that neither tsc nor npm pack treats them as
// the host's own code); `__NAME__`, `__VERSION__` and `__SDK_GO__` (where
// this sluice's Go SDK is) are filled in.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../cli/version.ts';
import { PACKAGE_ROOT } from '../paths.ts';

export interface Scaffolded {
  dir: string;
  files: string[];
}

/** A refusal the user can act on (the directory is not empty). */
export class ScaffoldError extends Error {}

const TEMPLATES = fileURLToPath(new URL('./templates/', import.meta.url));

function templateFiles(root: string, sub = ''): string[] {
  return readdirSync(join(root, sub), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? templateFiles(root, join(sub, e.name)) : e.name.endsWith('.tmpl') ? [join(sub, e.name)] : [],
  );
}

export type Lang = 'ts' | 'go';

export function scaffold(o: { name: string; lang: Lang; dir: string | undefined }): Scaffolded {
  const dir = resolve(o.dir ?? o.name);
  if (existsSync(dir) && readdirSync(dir).length) throw new ScaffoldError(`${dir} exists and is not empty; choose another --dir or remove it`);
  const root = join(TEMPLATES, o.lang);
  const files: string[] = [];
  for (const tmpl of templateFiles(root).sort()) {
    // npm drops a file named .gitignore from packages, so the template has no dot.
    const name = tmpl.slice(0, -'.tmpl'.length).replace(/^gitignore$/, '.gitignore');
    const text = readFileSync(join(root, tmpl), 'utf8').replaceAll('__NAME__', o.name).replaceAll('__VERSION__', VERSION).replaceAll('__SDK_GO__', join(PACKAGE_ROOT, 'sdk', 'go'));
    const to = join(dir, name);
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, text, { mode: /^src\/plugin\.|\.sh$/.test(name) ? 0o755 : 0o644 });
    files.push(relative(dir, to));
  }
  return { dir, files };
}
