#!/usr/bin/env node
// Acknowledges and discards every chunk without decoding it, like Fluent
// Bit's null output. The benchmarks use it to measure the host alone.
import { serve } from '../../sdk/src/index.ts';

serve({
  name: 'null',
  version: '0.1.0',
  description: 'Discards every chunk without decoding it',
  config: {},
  flush() {},
});
