#!/usr/bin/env node
// Acknowledges and discards every chunk without decoding it, like Fluent
// Bit's null output. The benchmarks use it to measure the host alone, and
// read its counter to check that every event arrived.
import { serve } from '../../sdk/src/index.ts';

let records = 0;

serve({
  name: 'null',
  version: '0.1.0',
  description: 'Discards every chunk without decoding it',
  config: {},
  flush(chunk) {
    records += chunk.count;
  },
  metrics: () => [{ name: 'null_acked_records_total', help: 'Events acknowledged (the count each chunk declares; never decoded)', value: records }],
});
