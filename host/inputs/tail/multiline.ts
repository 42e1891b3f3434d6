// tail's multiline.parser (and docker_mode) for one file: which runtime
// format reads each line, and where a restart must read the file again so
// that pieces still waiting for their last part are not lost, nor records
// already emitted emitted twice.
//
// Positions: a file's saved position never passes the start of a pending
// piece. Joined pieces of one stream interleave with the other stream's
// lines, which are emitted meanwhile, so the position alone would read
// those again; it comes with a replay note: up to `until` (where reading
// had got), a line is read again only if it is on a stream that had pieces
// pending, at or after the first of them (`streams`, keyed mode:stream).
// Every other line before `until` was emitted already and is skipped.
import { MultilineJoiner, MULTILINE_MODES, type JoinedRecord, type MultilineMode } from '../../parsers/multiline.ts';

/** Which lines between a saved position and `until` are read again. */
export interface Replay {
  /** Where reading had got: from here on every line is new. */
  until: number;
  /** The modes, in the order they were tried, to tell a line's stream as it was told then. */
  modes: MultilineMode[];
  /** mode:stream → where its first pending piece starts; that stream's lines from there on are read again. */
  streams: { [key: string]: number };
}

/** Where to read a file again from after a restart or reload. */
export interface Resume {
  offset: number;
  replay?: Replay;
}

export type TailRecord = JoinedRecord & { mode: MultilineMode | undefined };

/** Readers only (streamOf), shared. */
const READERS = new Map<MultilineMode, MultilineJoiner>(MULTILINE_MODES.map((m) => [m, new MultilineJoiner(m, () => {})]));

/** The mode:stream key of a line, as the first of `modes` that reads it tells; undefined if none does. */
export function streamKey(modes: readonly MultilineMode[], line: string): string | undefined {
  for (const m of modes) {
    const s = READERS.get(m)?.streamOf(line);
    if (s !== undefined) return `${m}:${s}`;
  }
  return undefined;
}

/** For a line starting at `offset` < replay.until: true if it was pending (read it again), false if it was emitted (skip it). */
export function replays(replay: Replay, line: string, offset: number): boolean {
  const key = streamKey(replay.modes, line);
  if (key === undefined) return false;
  const from = replay.streams[key];
  return from !== undefined && offset >= from;
}

/** Checks a replay note read from a db; undefined if it is not one. */
export function readReplay(v: unknown): Replay | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const r = v as { [k: string]: unknown };
  if (!Number.isSafeInteger(r.until) || !Array.isArray(r.modes) || r.streams === null || typeof r.streams !== 'object') return undefined;
  const modes = r.modes.filter((m): m is MultilineMode => MULTILINE_MODES.includes(m as MultilineMode));
  if (modes.length !== r.modes.length) return undefined;
  const streams: { [key: string]: number } = {};
  for (const [k, o] of Object.entries(r.streams as object)) {
    if (!Number.isSafeInteger(o) || o < 0) return undefined;
    streams[k] = o as number;
  }
  return { until: r.until as number, modes, streams };
}

/**
 * One file's joiners, one per mode of multiline.parser: a line goes to the
 * first that reads it (so docker and cri files can share a path pattern, as
 * with Fluent Bit's "docker, cri"); a line none reads is emitted as it is.
 * Pieces join only within one mode and one stream.
 */
export class FileJoiner {
  readonly modes: readonly MultilineMode[];
  private readonly joiners: MultilineJoiner[];
  private readonly emit: (r: TailRecord) => void;

  constructor(modes: readonly MultilineMode[], emit: (r: TailRecord) => void, maxBytes?: number) {
    this.modes = modes;
    this.emit = emit;
    this.joiners = modes.map((mode) => new MultilineJoiner(mode, (r) => emit(Object.assign(r, { mode })), { maxBytes }));
  }

  /** Feeds one line; emits the records it completes (a line no mode reads: at once, body { log: line }, mode undefined). */
  push(line: string, offset: number, nowMs: number): void {
    for (const j of this.joiners) if (j.tryPush(line, offset, nowMs)) return;
    this.emit({ body: { log: line }, offset, stream: '', parts: 1, reason: 'unparsed', mode: undefined });
  }

  get hasPending(): boolean {
    return this.joiners.some((j) => j.hasPending);
  }

  /** Emits what waited idleMs for its next piece; true if anything was emitted. */
  flushIdle(nowMs: number, idleMs: number): boolean {
    let any = false;
    for (const j of this.joiners) if (j.flushIdle(nowMs, idleMs)) any = true;
    return any;
  }

  /** When flushIdle will next have something to emit; undefined when nothing is pending. */
  nextIdleAt(idleMs: number): number | undefined {
    let at: number | undefined;
    for (const j of this.joiners) {
      const t = j.nextIdleAt(idleMs);
      if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
  }

  /** Emits everything pending. */
  flush(): void {
    for (const j of this.joiners) j.flush();
  }

  /** mode:stream → where its first pending piece starts. */
  starts(): Map<string, number> {
    const out = new Map<string, number>();
    this.joiners.forEach((j, i) => {
      for (const [stream, start] of j.pendingStarts()) out.set(`${this.modes[i]}:${stream}`, start);
    });
    return out;
  }
}

/**
 * Where a restart must read again from, once every line before `lineEnd`
 * was read: `pending` are the starts of the pieces still waiting (mode:stream
 * → offset), `prev` the replay note being worked through (from the db or a
 * reload), whose lines at `lineEnd` and after are still to come.
 * undefined: nothing to read again, the position is lineEnd.
 */
export function resumeAt(lineEnd: number, pending: Map<string, number> | undefined, modes: readonly MultilineMode[], prev: Replay | undefined): Resume | undefined {
  const inPrev = prev !== undefined && prev.until > lineEnd;
  if (!inPrev && (pending === undefined || pending.size === 0)) return undefined;
  const streams: { [key: string]: number } = {};
  let offset = lineEnd;
  if (pending) {
    for (const [key, start] of pending) {
      streams[key] = start;
      if (start < offset) offset = start;
    }
  }
  let allModes = [...modes];
  if (inPrev) {
    // The note's streams that have nothing pending here: their lines still to come are to be read again.
    for (const [key, from] of Object.entries(prev.streams)) if (!(key in streams)) streams[key] = Math.max(from, lineEnd);
    allModes = [...modes, ...prev.modes.filter((m) => !modes.includes(m))];
  }
  const until = inPrev ? prev.until : lineEnd;
  if (until <= offset) return undefined;
  return { offset, replay: { until, modes: allModes, streams } };
}
