// tail: follows the files that path matches, one event per line. A file is
// known by device and inode, not by name: a rotated file keeps its reader
// and position under its new name, and a new file at the old name is a new
// file, read from its start as soon as it is seen.
import { watch, type FSWatcher } from 'node:fs';
import { glob, open, readdir, stat } from 'node:fs/promises';
import { dirname, join, matchesGlob, resolve } from 'node:path';
import { FilePosition } from './file-position.ts';
import { MULTILINE_MODES, type MultilineMode } from '../../parsers/multiline.ts';
import type { Replay } from './multiline.ts';
import type { Parsed, Parser } from '../../parsers/parser.ts';
import { TailDb, fileKey } from './tail-db.ts';
import { TailFile } from './tail-file.ts';
import type { Input, InputContext, InputKind } from '../input.ts';

interface TailConfig {
  db: string;
  'db.sync_interval': number;
  path: string[];
  exclude_path: string[];
  read_from_head: boolean;
  exit_on_eof: boolean;
  refresh_interval: number;
  rotate_wait: number;
  key: string;
  parser: string;
  path_key: string;
  buffer_max_size: number;
  buffer_chunk_size: number;
  skip_long_lines: boolean;
  skip_empty_lines: boolean;
  ignore_older: number;
  offset_key: string;
  'multiline.parser': string[];
  'multiline.flush': number;
  docker_mode: boolean;
  docker_mode_flush: number;
}

/** How a tail joins the pieces container runtimes cut long lines into (multiline.parser, or docker_mode). */
export interface TailMultiline {
  modes: MultilineMode[];
  /** multiline.parser: records are the joined fields; docker_mode: the joined docker JSON line under key. */
  output: 'fields' | 'docker_line';
  /** Pieces that wait this long for the next one are emitted as they are. */
  flushMs: number;
}

/** The multiline setup of a tail's config; throws "key: message" for what cannot work. */
export function tailMultiline(cfg: Pick<TailConfig, 'multiline.parser' | 'multiline.flush' | 'docker_mode' | 'docker_mode_flush'>): TailMultiline | undefined {
  const names = cfg['multiline.parser'];
  if (names.length && cfg.docker_mode) throw new Error('docker_mode: cannot be used with multiline.parser (multiline.parser docker joins docker\'s pieces too)');
  if (cfg.docker_mode) return { modes: ['docker'], output: 'docker_line', flushMs: cfg.docker_mode_flush * 1000 };
  if (!names.length) return undefined;
  const modes: MultilineMode[] = [];
  for (const n of names) {
    const m = n.toLowerCase() as MultilineMode;
    if (!MULTILINE_MODES.includes(m)) throw new Error(`multiline.parser: ${JSON.stringify(n)} is not a built-in multiline parser this version of sluice has (${MULTILINE_MODES.join(', ')}); user multiline_parsers cannot be used by tail yet`);
    if (!modes.includes(m)) modes.push(m);
  }
  return { modes, output: 'fields', flushMs: cfg['multiline.flush'] * 1000 };
}

/** Fluent Bit's tag expansion: `*` becomes the path with / turned into dots. */
export function expandTag(tag: string, path: string): string {
  if (!tag.includes('*')) return tag;
  return tag.replace('*', path.replace(/^\/+/, '').replace(/\//g, '.'));
}

/** What a tail hands to its successor on a reload: the db and, per file (device:inode), its place and pending marks. */
export interface TailHandOff {
  db: TailDb | undefined;
  files: Map<string, { path: string; offset: number; replay?: Replay; position: FilePosition }>;
}

/** A file to go on with at start (from the db or a reload hand-off). */
interface Resumable {
  name: string;
  offset: number;
  replay?: Replay;
  position?: FilePosition;
  /** The path it was found at before a reload (its tag). */
  path?: string;
}

const hasMagic = (p: string) => /[*?[\]{}]/.test(p);

export class TailInput implements Input {
  readonly cfg: TailConfig;
  readonly ctx: InputContext;
  readonly rotateWaitMs: number;
  readonly multiline: TailMultiline | undefined;
  /** Lines go through parser as they are read (not with multiline.parser, whose records are the runtime's fields, as in Fluent Bit). */
  readonly parses: boolean;
  private readonly parserLabels: { name: string };
  /** When a throwing parser was last logged, and how many throws since. */
  private parserFailedAt = 0;
  private parserFailures = 0;
  private readonly patterns: string[];
  private readonly excludes: string[];
  /** Followed files by device:inode. */
  private readonly files = new Map<string, TailFile>();
  private readonly runs = new Set<Promise<void>>();
  private readonly watchers = new Map<string, FSWatcher>();
  private scanTimer: NodeJS.Timeout | undefined;
  private dbTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private scanAgain = false;
  private stopped = false;
  private markStopped!: () => void;
  /** Resolves when stop() is called: wakes files waiting on backpressure or at EOF. */
  readonly stopping = new Promise<void>((r) => (this.markStopped = r));
  db: TailDb | undefined;
  /** Positions handed over by the instance this one replaced on a reload. */
  handedOff: TailHandOff | undefined;
  /** With exit_on_eof: the first scan is complete, so the set of files is known. */
  private scanned = false;
  private resolveFinished!: () => void;
  readonly finished: Promise<void> | undefined;

  constructor(cfg: TailConfig, ctx: InputContext) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.rotateWaitMs = cfg.rotate_wait * 1000;
    this.multiline = tailMultiline(cfg);
    // As in Fluent Bit: with multiline.parser, records are the joined fields and parser is not used.
    this.parses = cfg.parser !== '' && this.multiline?.output !== 'fields';
    this.parserLabels = { name: ctx.name };
    if (cfg.parser && this.multiline?.output === 'fields') ctx.log.warn({ parser: cfg.parser, 'multiline.parser': cfg['multiline.parser'] }, 'parser is not used when multiline.parser is set (as in Fluent Bit); use a parser filter on the joined records instead');
    this.patterns = cfg.path.map((p) => resolve(p));
    this.excludes = cfg.exclude_path.map((p) => resolve(p));
    this.finished = cfg.exit_on_eof ? new Promise((r) => (this.resolveFinished = r)) : undefined;
    if (cfg.db) {
      this.db = new TailDb(resolve(cfg.db));
      this.db.load();
    }
  }

  /**
   * A line through parser: its record, or undefined when parser does not
   * match it (counted) or throws (logged); the line then goes on as it is,
   * as in Fluent Bit.
   */
  parse(line: string): Parsed | undefined {
    const parser = this.parser;
    if (!parser) return undefined;
    let r: Parsed | undefined;
    try {
      r = parser.parse(line);
    } catch (err) {
      this.parserFailed(err);
      return undefined;
    }
    if (!r) this.ctx.metrics.parserUnmatched.inc(this.parserLabels);
    else if (r.timeError !== undefined) this.ctx.metrics.parserTimeErrors.inc(this.parserLabels);
    return r;
  }

  /** The parser lines go through now (a reload may have changed it); undefined without one. */
  get parser(): Parser | undefined {
    return this.ctx.parser?.(this.cfg.parser);
  }

  /** A line the parser's fast path found not to be a record (JsonParser.writeEvent). */
  unmatched(): void {
    this.ctx.metrics.parserUnmatched.inc(this.parserLabels);
  }

  /** At most one log line every 5 s: a parser that throws on every line would flood the log. */
  private parserFailed(err: unknown): void {
    const now = Date.now();
    if (now - this.parserFailedAt < 5000) {
      this.parserFailures++;
      return;
    }
    this.ctx.log.error({ parser: this.cfg.parser, err: (err as Error)?.message ?? String(err), not_logged_since_last: this.parserFailures }, 'the parser failed on a line; the line goes on as it is');
    this.parserFailedAt = now;
    this.parserFailures = 0;
  }

  tagOf(path: string): string {
    return expandTag(this.ctx.tag, path);
  }

  /** Would a scan follow a file at this path? */
  matches(path: string): boolean {
    return this.patterns.some((p) => matchesGlob(path, p)) && !this.excludes.some((p) => matchesGlob(path, p));
  }

  start(handedOff?: unknown): void {
    this.handedOff = handedOff as TailHandOff | undefined;
    // Same db file: keep the old instance's db object, whose pending chunks still advance it.
    if (this.handedOff?.db && this.db && this.handedOff.db.file === this.db.file) this.db = this.handedOff.db;
    if (this.db) this.dbTimer = setInterval(() => this.checkpoint(), this.cfg['db.sync_interval'] * 1000);
    this.scanning = this.firstScan().finally(() => {
      this.scanning = undefined;
      if (this.scanAgain) this.requestScan();
    });
  }

  private async firstScan(): Promise<void> {
    const resumable = new Map<string, Resumable>();
    for (const p of this.db?.all() ?? []) resumable.set(fileKey(p.dev, p.ino), { name: p.name, offset: p.offset, replay: p.replay });
    for (const [key, h] of this.handedOff?.files ?? []) resumable.set(key, { name: h.position.name, offset: h.offset, replay: h.replay, position: h.position, path: h.path });
    try {
      await this.scan(true, resumable);
      // Files the db or the old instance knew that path no longer matches: rotated away, maybe with lines left.
      for (const [key, r] of resumable) if (!(await this.resumeRenamed(key, r))) this.db?.delete(key);
    } catch (err) {
      this.ctx.log.error({ err: (err as Error).message }, 'first scan for files failed; trying again at refresh_interval');
    }
    if (this.stopped) return;
    this.scanned = true;
    if (this.files.size === 0) this.ctx.log.warn({ path: this.cfg.path }, 'no file matches path yet');
    if (this.cfg.exit_on_eof) return this.fileDone();
    this.watchDirs();
    this.scanTimer = setInterval(() => this.requestScan(), this.cfg.refresh_interval * 1000);
  }

  /**
   * Looks for new files now: at refresh_interval, when a watched directory
   * changes, and when a followed file was renamed away. Scans never overlap;
   * a request during a scan runs one more after it.
   */
  requestScan(): void {
    if (this.stopped || !this.scanned) {
      this.scanAgain = true;
      return;
    }
    if (this.scanning) {
      this.scanAgain = true;
      return;
    }
    this.scanning = (async () => {
      do {
        this.scanAgain = false;
        await this.scan(false).catch((err) => this.ctx.log.error({ err: err.message }, 'scan for files failed; trying again at refresh_interval'));
      } while (this.scanAgain && !this.stopped);
      this.scanning = undefined;
    })();
  }

  /** inotify on each pattern's directory (when it has no wildcard) catches a new file within milliseconds, before it can be rotated away unseen. */
  private watchDirs(): void {
    for (const dir of new Set(this.patterns.map((p) => dirname(p)))) {
      if (hasMagic(dir) || this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (event) => {
          if (event === 'rename') this.requestScan();
        });
        w.on('error', (err) => {
          this.ctx.log.debug({ dir, err: err.message }, 'cannot watch directory any more; new files are found at refresh_interval');
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch (err) {
        this.ctx.log.debug({ dir, err: (err as Error).message }, 'cannot watch directory; new files are found at refresh_interval');
      }
    }
  }

  private async scan(initial: boolean, resumable = new Map<string, Resumable>()): Promise<void> {
    let added = false;
    for (const pattern of this.patterns) {
      for await (const f of glob(pattern)) {
        if (this.stopped) return;
        if (this.excludes.some((p) => matchesGlob(f, p))) continue;
        const st = await stat(f).catch(() => undefined);
        if (!st?.isFile()) continue;
        const known = this.files.get(fileKey(st.dev, st.ino));
        if (known) {
          known.renamed(f);
          continue;
        }
        // A file not written for ignore_older is not followed (as Fluent Bit); one that is followed already stays.
        if (this.cfg.ignore_older > 0 && Date.now() - st.mtimeMs > this.cfg.ignore_older * 1000) continue;
        if (await this.follow(f, initial, resumable)) added = true;
      }
    }
    if (!initial && this.scanned) this.watchDirs();
    // A file picked up between two db writes would otherwise be read from its end after a crash.
    if (added) this.checkpoint();
  }

  /** Opens a file the scan found; false if it is already followed or cannot be opened. */
  private async follow(f: string, initial: boolean, resumable: Map<string, Resumable>): Promise<boolean> {
    let fh;
    try {
      fh = await open(f, 'r');
    } catch (err) {
      this.ctx.log.warn({ path: f, err: (err as Error).message }, 'cannot open file; will try again at the next scan');
      return false;
    }
    // The name may point at another file by now: identity comes from the open handle.
    const st = await fh.stat();
    const key = fileKey(st.dev, st.ino);
    if (this.stopped || this.files.has(key)) {
      await fh.close();
      return false;
    }
    const r = resumable.get(key);
    resumable.delete(key);
    let offset: number;
    let replay: Replay | undefined;
    if (r && r.offset <= st.size) {
      offset = r.offset;
      replay = r.replay;
      this.ctx.log.debug({ path: f, offset }, r.position ? 'going on where the previous instance stopped' : 'resuming from the tail db');
    } else if (r) {
      offset = 0;
      this.ctx.log.warn({ path: f, offset: r.offset, size: st.size }, 'file is shorter than its saved position (truncated while sluice was not reading it); reading it from its start');
    } else {
      // Files found at start begin at their end unless read_from_head; later ones from their start.
      offset = initial && !this.cfg.read_from_head ? st.size : 0;
    }
    const position = r?.position?.db === this.db && r?.position ? r.position : new FilePosition(this.db, st.dev, st.ino, f, offset, replay);
    position.renamed(f);
    this.startFile(new TailFile(this, r?.path ?? f, fh, position, offset, !this.matches(f), replay));
    return true;
  }

  /** A known file that path no longer matches: find it (same name, or renamed in its directory) and read what is left of it. */
  private async resumeRenamed(key: string, r: Resumable): Promise<boolean> {
    const names = [r.name, ...(await readdir(dirname(r.name)).catch(() => [])).map((n) => join(dirname(r.name), n))];
    for (const name of names) {
      const st = await stat(name).catch(() => undefined);
      if (st && fileKey(st.dev, st.ino) === key) {
        this.ctx.log.info({ path: name, offset: r.offset }, 'reading the rest of a file rotated away before sluice stopped');
        return this.follow(name, false, new Map([[key, { ...r, path: r.path ?? r.name }]]));
      }
    }
    return false;
  }

  private startFile(file: TailFile): void {
    const key = file.position.key;
    this.files.set(key, file);
    this.ctx.log.debug({ path: file.path }, 'following file');
    const run = file
      .run()
      .then((done) => {
        if (done && !this.cfg.exit_on_eof && this.files.get(key) === file) this.files.delete(key);
      })
      .catch((err) => this.ctx.log.error({ path: file.path, err: err.message }, 'stopped reading file after an error'))
      .finally(() => this.runs.delete(run));
    this.runs.add(run);
  }

  /** With exit_on_eof: finished once every file found by the first scan reached EOF. */
  fileDone(): void {
    if (!this.scanned || ![...this.files.values()].every((f) => f.reachedEof)) return;
    this.resolveFinished?.();
  }

  /** Writes the db: every db.sync_interval, and at shutdown after outputs are done. */
  checkpoint(): void {
    try {
      this.db?.sync();
    } catch (err) {
      this.ctx.log.error({ db: this.db?.file, err: (err as Error).message }, 'cannot write the tail db; positions will be older after a restart (duplicates, not loss)');
    }
  }

  /** Set by stop(): a reload hands this instance's files over to a new one. */
  handingOff = false;

  async stop(opts?: { handOff?: boolean }): Promise<void> {
    this.handingOff = opts?.handOff === true;
    this.stopped = true;
    this.markStopped();
    clearInterval(this.scanTimer);
    clearInterval(this.dbTimer);
    for (const w of this.watchers.values()) w.close();
    await this.scanning;
    for (const f of this.files.values()) f.stopped = true;
    await Promise.all(this.runs);
    this.checkpoint();
  }

  handOff(): TailHandOff {
    return { db: this.db, files: new Map([...this.files].map(([key, f]) => [key, { path: f.path, offset: f.offset, replay: f.replay, position: f.position }])) };
  }
}

export const tail: InputKind = {
  description: 'Follows files, one event per line',
  // As Fluent Bit: multiline.parser may be given on several lines (classic format).
  repeatable: ['multiline.parser'],
  spec: {
    path: { type: 'list', required: true, description: 'Files to follow: globs, as a list or comma-separated' },
    exclude_path: { type: 'list', default: [], description: 'Globs of files to leave out' },
    read_from_head: { type: 'bool', default: false, description: 'Read files found at start from their beginning, not their end' },
    exit_on_eof: { type: 'bool', default: false, description: 'Exit sluice (status 0) once every file reached its end and everything was delivered' },
    refresh_interval: { type: 'duration', default: 10, min: 0.1, description: 'How often to look for new files matching path (seconds)' },
    rotate_wait: { type: 'duration', default: 5, min: 0, description: 'How long a file renamed away from path (rotated) is still followed after its rotation is seen, once read to its end (seconds)' },
    key: { type: 'string', default: 'log', description: 'Body key that holds the line' },
    parser: { type: 'string', default: '', description: 'A parser (stock, or from parsers: / parsers_file) the line goes through; a line it does not match stays {key: line}' },
    path_key: { type: 'string', default: '', description: 'If set, a body key that holds the file path' },
    buffer_max_size: { type: 'size', default: 1024 * 1024, min: 1024, description: 'Read buffer per file and longest line kept whole; longer lines are truncated (or skipped)' },
    buffer_chunk_size: { type: 'size', default: 32 * 1024, min: 1024, description: 'Accepted for Fluent Bit configs; sluice reads up to buffer_max_size at a time' },
    skip_long_lines: { type: 'bool', default: false, description: 'Drop lines longer than buffer_max_size instead of truncating them' },
    skip_empty_lines: { type: 'bool', default: false, description: 'Drop empty lines (a line with only a carriage return counts as empty)' },
    ignore_older: { type: 'duration', default: 0, min: 0, description: 'Do not follow files last modified longer ago than this (5m, 2h, 7d); 0: follow all' },
    offset_key: { type: 'string', default: '', description: 'If set, a body key that holds the byte offset in the file where the line starts (with multiline: where the record\'s first line starts)' },
    'multiline.parser': { type: 'list', default: [], description: 'Join the pieces container runtimes cut long lines into: docker (json-file), cri (containerd, CRI-O), or both ("docker, cri": each line is read by the first that can). Records are the runtime\'s fields (log joined, stream, time), with the event time from the line; parser is not used' },
    'multiline.flush': { type: 'duration', default: 4, min: 0.01, description: 'With multiline.parser: pieces that waited this long for their next piece are emitted as they are (seconds; sluice\'s key, Fluent Bit waits 4 s)' },
    docker_mode: { type: 'bool', default: false, description: 'Join docker json-file pieces before parser, as Fluent Bit\'s docker_mode: the record is {key: the joined docker JSON line}, for parser docker' },
    docker_mode_flush: { type: 'duration', default: 4, min: 0.01, description: 'With docker_mode: pieces that waited this long for their next piece are emitted as they are (seconds)' },
    db: { type: 'string', default: '', description: 'File that keeps each file\'s position (by device and inode) across restarts; positions never run ahead of stored (filesystem) or delivered (memory) data' },
    'db.sync_interval': { type: 'duration', default: 2, min: 0.01, description: 'How often the db is written (seconds); also written at shutdown' },
  },
  create: (cfg, ctx) => new TailInput(cfg as TailConfig, ctx),
};
