// Runs an input's parser and the filters matching a tag over a sealed chunk:
// its events are decoded, passed through each step in order, and the ones
// that remain are encoded into the chunk that is stored. Done once per chunk,
// off the inputs' hot paths: a tag no step applies to gets no transform at all.
//
// Nothing a step does loses an accepted event: a step that throws on an
// event is skipped for it (the event goes on); an event that cannot be
// encoded after the steps is stored as it came in; a chunk that cannot be
// decoded is stored untouched.
import { decodeEvents, encodeEvent, type Event } from '../../sdk/src/codec/events.ts';
import type { Chunk } from '../engine/chunk.ts';
import { isFilterOutput, type FilterResult } from './filter.ts';

/** One step: a filter, or an input's parser. */
export type Step = (e: Event, tag: string) => FilterResult;

/** Called when a step throws on an event (the event goes on unchanged), or (step -1) when the chunk cannot be decoded or an event encoded. */
export type StepFailed = (step: number, err: unknown) => void;

/** An event a step re-emitted, already encoded (later steps cannot change it). */
export interface Emitted {
  step: number;
  tag: string;
  data: Buffer;
}

export interface Transformed {
  chunk: Chunk;
  emitted: Emitted[];
  /** Per step: events it was given, dropped, held, and re-emitted. */
  seen: number[];
  dropped: number[];
  held: number[];
  emits: number[];
}

const encode = (e: Event) => encodeEvent(e.body, e.time, e.metadata);

export function transformChunk(chunk: Chunk, steps: readonly Step[], failed: StepFailed): Transformed {
  const n = steps.length;
  const r: Transformed = { chunk, emitted: [], seen: new Array(n).fill(0), dropped: new Array(n).fill(0), held: new Array(n).fill(0), emits: new Array(n).fill(0) };
  let events: Event[];
  try {
    events = decodeEvents(chunk.data!);
  } catch (err) {
    failed(-1, err);
    return r;
  }
  const parts: Buffer[] = [];
  let count = 0;
  let originals: Event[] | undefined;
  // Runs an event through the steps from `from`; `k` is the index of the chunk's event it came from.
  const run = (first: Event, from: number, k: number): void => {
    let out: Event | null = first;
    for (let i = from; i < n && out; i++) {
      r.seen[i]!++;
      let res: FilterResult;
      try {
        res = steps[i]!(out, chunk.tag);
      } catch (err) {
        failed(i, err);
        continue;
      }
      if (res === null) {
        r.dropped[i]!++;
        out = null;
      } else if (isFilterOutput(res)) {
        if (res.emit?.length) {
          let ok = true;
          const enc: Emitted[] = [];
          try {
            for (const x of res.emit) enc.push({ step: i, tag: x.tag, data: encode(x.event) });
          } catch (err) {
            // Not re-emitted: the event goes on as it came to this step.
            failed(i, err);
            ok = false;
          }
          if (!ok) continue;
          for (const e of enc) r.emitted.push(e);
          r.emits[i]! += enc.length;
        }
        if (res.held) r.held[i]!++;
        else if (res.event === null && !res.emit?.length && !res.more?.length) r.dropped[i]!++;
        if (res.more) for (const m of res.more) run(m, i + 1, -1);
        out = res.event;
      } else out = res;
    }
    if (!out) return;
    let bytes: Buffer;
    try {
      bytes = encode(out);
    } catch (err) {
      // What a step made cannot be stored (a bug): store the event as it came in (if it is one of the chunk's).
      failed(-1, err);
      if (k < 0) return;
      originals ??= decodeEvents(chunk.data!);
      bytes = encode(originals[k]!);
    }
    parts.push(bytes);
    count++;
  };
  for (let k = 0; k < events.length; k++) run(events[k]!, 0, k);
  const data = Buffer.concat(parts);
  r.chunk = { ...chunk, data, size: data.length, count, crc32: undefined };
  return r;
}
