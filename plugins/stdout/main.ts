#!/usr/bin/env node
// Prints every event as a JSON line on the host's stdout. The host lends its
// stdout as an extra file descriptor; a plugin's own stdout is reserved for
// the handshake.
import { writeSync } from 'node:fs';
import { serve, toJsonLines, HOST_STDOUT_FD_ENV } from '../../sdk/src/index.ts';

const fd = Number(process.env[HOST_STDOUT_FD_ENV] ?? 2);

serve<{ json_date_key: string }>({
  name: 'stdout',
  version: '0.1.0',
  description: "Prints events as JSON lines on sluice's stdout",
  config: {
    json_date_key: { type: 'string', default: 'date', description: 'Key that holds the event time (seconds as a float); empty to leave it out' },
  },
  flush(chunk, ctx) {
    const bytes = toJsonLines(chunk.data, ctx.config.json_date_key);
    // A pipe may take less than all of it.
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  },
});
