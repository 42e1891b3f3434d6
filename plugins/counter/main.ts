#!/usr/bin/env node
// Decodes every event and counts them, like Fluent Bit's counter output.
import { serve } from '../../sdk/src/index.ts';

let records = 0;
let chunks = 0;

serve({
  name: 'counter',
  version: '0.1.0',
  description: 'Decodes every event and counts them',
  config: {},
  flush(chunk, ctx) {
    const n = chunk.events().length;
    if (n !== chunk.count) ctx.log.warn({ chunk: chunk.id, declared: chunk.count, decoded: n }, 'chunk holds a different number of events than declared');
    records += n;
    chunks++;
    ctx.log.debug({ chunk: chunk.id, records: n, total: records }, 'counted');
  },
  exit(ctx) {
    ctx.log.info({ records, chunks }, 'counter total');
  },
  metrics: () => [
    { name: 'counter_records_total', help: 'Events decoded and counted', value: records },
    { name: 'counter_chunks_total', help: 'Chunks received', value: chunks },
  ],
});
