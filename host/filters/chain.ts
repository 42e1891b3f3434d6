// Runs an input's parser and the filters matching a tag over a sealed chunk:
// its events are decoded, passed through each step in order, and the ones
// that remain are encoded into the chunk that is stored. Done once per chunk,
// off the inputs' hot paths: a tag no step applies to gets no transform at all.
import { crc32 } from 'node:zlib';
import { decodeEvents, encodeEvent, type Event } from '../../sdk/src/codec/events.ts';
import type { Chunk } from '../engine/chunk.ts';

/** One step: a filter, or an input's parser. null drops the event. */
export type Step = (e: Event, tag: string) => Event | null;

/** Called when a step throws on an event: the event goes on unchanged. */
export type StepFailed = (step: number, err: unknown) => void;

export function transformChunk(chunk: Chunk, steps: readonly Step[], failed: StepFailed): Chunk {
  const parts: Buffer[] = [];
  let count = 0;
  for (const e of decodeEvents(chunk.data!)) {
    let out: Event | null = e;
    for (let i = 0; i < steps.length && out; i++) {
      try {
        out = steps[i]!(out, chunk.tag);
      } catch (err) {
        failed(i, err);
      }
    }
    if (!out) continue;
    parts.push(encodeEvent(out.body, out.time, out.metadata));
    count++;
  }
  const data = Buffer.concat(parts);
  return { ...chunk, data, size: data.length, count, crc32: crc32(data) };
}
