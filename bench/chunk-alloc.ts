// The chunk writer's hot path alone, in process: CPU ms to write 1M lines of
// 200 bytes into chunks (delivered and released at once), for one busy tag and
// for 1,000 tags sealed by the flush timer every 200 lines. Run it from two
// checkouts to compare: node bench/chunk-alloc.ts
import { ChunkStore, type InputAccount, type StoreEvents } from '../host/storage/store.ts';
import { LineEncoder } from '../host/engine/chunk.ts';
import pino from 'pino';

const LINES = 1_000_000;
const line = Buffer.from('x'.repeat(199) + '\n');

function run(tags: number, sealEvery: number): number {
  const events: StoreEvents = { sealed: (c) => store.release(c), paused() {}, resumed() {}, quarantined() {}, writeFailed() {}, writeResumed() {} };
  const store = new ChunkStore({ path: undefined, sync: 'normal', checksum: true, maxChunksUp: 1e9, maxMemory: Infinity }, events, pino({ level: 'silent' }));
  const account: InputAccount = store.account('in', 'memory', 0, false);
  const writers = Array.from({ length: tags }, (_, i) => store.writer(account, `t${i}`));
  const enc = new LineEncoder('log');
  const t0 = process.cpuUsage();
  for (let i = 0; i < LINES; ) {
    for (const w of writers) {
      for (let j = 0; j < sealEvery && i < LINES; j++, i++) {
        const c = w.reserve(enc.size(199));
        enc.write(c, 1, 0, line, 0, 199);
        w.commit();
      }
    }
    store.sealAll();
  }
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000;
}

for (let r = 0; r < 5; r++) {
  console.log(`one tag: ${run(1, LINES).toFixed(0)} ms CPU   1,000 tags sealed every 200 lines: ${run(1000, 200).toFixed(0)} ms CPU`);
}
