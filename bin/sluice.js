#!/usr/bin/env node
// The `sluice` command. Plain JavaScript that any Node can parse, so that an
// old Node gets one line naming the version sluice needs, not a stack trace.
import { existsSync } from 'node:fs';

const REQUIRED = [22, 22];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < REQUIRED[0] || (major === REQUIRED[0] && minor < REQUIRED[1])) {
  process.stderr.write(`sluice: needs Node.js ${REQUIRED.join('.')} or newer; ${process.execPath} is ${process.version}. Install Node 22 LTS or newer and run sluice with it.\n`);
  process.exit(1);
}
// A checkout runs from source; an installed package from dist/ (it ships no source).
const source = new URL('../host/cli/main.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/host/cli/main.js', import.meta.url).href);
