#!/usr/bin/env node
// An example third-party output plugin, built on sluice's SDK exactly as an
// outside author would: it parses the level out of each line, prints the
// events that are at or above min_level on sluice's stdout, and logs a
// per-level tally when it exits.
import { writeSync } from 'node:fs';
import { serve, HOST_STDOUT_FD_ENV } from '../../sdk/src/index.ts';

const ORDER = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const tally: { [level: string]: number } = {};
const out = Number(process.env[HOST_STDOUT_FD_ENV] ?? 2);

serve<{ min_level: string }>({
  name: 'levels',
  version: '0.1.0',
  description: 'Prints events at or above a level and counts events per level',
  config: {
    min_level: { type: 'string', default: 'WARN', oneOf: ORDER, description: 'Lowest level printed' },
  },
  flush(chunk, ctx) {
    const min = ORDER.indexOf(ctx.config.min_level);
    let text = '';
    for (const e of chunk.events()) {
      const line = String(e.body.log ?? '');
      const level = line.split(' ')[1] ?? 'UNKNOWN';
      tally[level] = (tally[level] ?? 0) + 1;
      if (ORDER.indexOf(level) >= min) text += `${line}\n`;
    }
    if (text) writeSync(out, text);
  },
  exit(ctx) {
    ctx.log.info({ tally }, 'events per level');
  },
});
