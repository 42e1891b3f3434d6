// The config as read from its files, before any check: a tree of maps,
// lists and scalars in which every node remembers the file, the offset and
// the key path (as the user spelled it, in that file) it comes from. YAML
// files and classic .conf files are both read into it, so the checks, and
// the errors they report, are the same for both.
import { isAlias, isMap, isPair, isScalar, isSeq, type Document } from 'yaml';

export type KeyPath = (string | number)[];

export function formatPath(path: KeyPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');
}

export class ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
  constructor(file: string, line: number, col: number, path: string, message: string) {
    this.file = file;
    this.line = line;
    this.col = col;
    this.path = path;
    this.message = message;
  }
  toString(): string {
    return `${this.file}:${this.line}:${this.col}: ${this.path ? `${this.path}: ` : ''}${this.message}`;
  }
}

/** Issues by file (in the order given, others after by name), then line and column. */
export function sortIssues(issues: ConfigIssue[], fileOrder: readonly string[] = []): ConfigIssue[] {
  const rank = (f: string) => {
    const i = fileOrder.indexOf(f);
    return i < 0 ? fileOrder.length : i;
  };
  return [...issues].sort((a, b) => rank(a.file) - rank(b.file) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.col - b.col);
}

/** A file's text, with its line starts, to turn offsets into line:column. */
export class SourceText {
  readonly file: string;
  readonly text: string;
  private readonly starts: number[] = [0];
  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }
  /** 1-based line and column of an offset. */
  pos(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }
}

/** Where a node is: its file, its offset there, and its key path in that file. */
export interface At {
  src: SourceText;
  offset: number;
  path: KeyPath;
}

export function issueAt(at: At, message: string, path: KeyPath = at.path): ConfigIssue {
  const { line, col } = at.src.pos(at.offset);
  return new ConfigIssue(at.src.file, line, col, formatPath(path), message);
}

export type Format = 'yaml' | 'classic';

export interface LScalar {
  kind: 'scalar';
  value: unknown;
  /** Nodes made by merging files have no place of their own. */
  at?: At;
}
export interface LEntry {
  /** As the user wrote it. */
  key: string;
  /** The name it stands for: see normalizeKey. */
  norm: string;
  keyAt: At;
  value: LNode;
}
export interface LMap {
  kind: 'map';
  entries: LEntry[];
  at?: At;
}
export interface LSeq {
  kind: 'seq';
  items: LNode[];
  at?: At;
  /** A key given on several lines of one classic section: its values, in order. */
  repeated?: boolean;
}
export type LNode = LScalar | LMap | LSeq;

/**
 * Keys are case-insensitive, as in Fluent Bit: `Mem_Buf_Limit` is
 * `mem_buf_limit`. In YAML, Fluent Bit also reads a camelCase key that starts
 * with a lowercase letter and has no underscore as snake_case
 * (`memBufLimit`); classic files are only lowercased.
 */
export function normalizeKey(key: string, format: Format): string {
  if (format === 'yaml' && /^[a-z]/.test(key) && !key.includes('_') && /[A-Z]/.test(key)) {
    return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  }
  return key.toLowerCase();
}

/** The plain value of a node; nested maps keep the keys as written. */
export function plain(n: LNode | undefined): unknown {
  if (!n) return undefined;
  if (n.kind === 'scalar') return n.value;
  if (n.kind === 'seq') return n.items.map(plain);
  return Object.fromEntries(n.entries.map((e) => [e.key, plain(e.value)]));
}

export function describeNode(n: LNode | undefined): string {
  if (!n || (n.kind === 'scalar' && n.value === null)) return 'nothing';
  if (n.kind === 'map') return 'a map';
  if (n.kind === 'seq') return 'a list';
  return `${typeof n.value} ${JSON.stringify(n.value)}`;
}

/** A YAML document as a tree of located nodes. */
export function fromYaml(doc: Document, src: SourceText): LNode | undefined {
  const conv = (node: unknown, path: KeyPath, fallback: number, depth: number): LNode => {
    if (isAlias(node) && depth < 64) node = node.resolve(doc);
    const offset = (node as { range?: [number, number] } | null)?.range?.[0] ?? fallback;
    const at: At = { src, offset, path };
    if (isMap(node)) {
      const entries: LEntry[] = [];
      for (const p of node.items) {
        if (!isPair(p)) continue;
        const k = p.key;
        const key = isScalar(k) ? String(k.value) : String(k);
        const keyAt: At = { src, offset: (k as { range?: [number, number] } | null)?.range?.[0] ?? offset, path: [...path, key] };
        const norm = normalizeKey(key, 'yaml');
        let value: LNode = p.value == null ? { kind: 'scalar', value: null, at: keyAt } : conv(p.value, [...path, key], keyAt.offset, depth + 1);
        // `name: null` is YAML's null, but means the bundled null plugin (as in Fluent Bit).
        if (norm === 'name' && value.kind === 'scalar' && value.value === null && isScalar(p.value) && p.value.source === 'null') value = { ...value, value: 'null' };
        entries.push({ key, norm, keyAt, value });
      }
      return { kind: 'map', entries, at };
    }
    if (isSeq(node)) return { kind: 'seq', items: node.items.map((x, i) => conv(x, [...path, i], offset, depth + 1)), at };
    if (isScalar(node)) return { kind: 'scalar', value: node.value, at };
    return { kind: 'scalar', value: null, at };
  };
  return doc.contents == null ? undefined : conv(doc.contents, [], 0, 0);
}

/** Finds a map's entry by its normalized key (or, failing that, as written). */
export function entryOf(map: LMap, key: string): LEntry | undefined {
  return map.entries.find((e) => e.norm === key) ?? map.entries.find((e) => e.key === key);
}

/**
 * Positions of merged paths: walks the tree by normalized keys and list
 * indexes, and reports at the deepest node found, with the path as the user
 * spelled it in the file that node comes from.
 */
export class Locator {
  private readonly root: LNode;
  private readonly fallback: At;
  constructor(root: LNode, fallback: At) {
    this.root = root;
    this.fallback = fallback;
  }
  /** The key of the last path element (or its value, for list items and onValue), else the closest parent. */
  issue(path: KeyPath, message: string, onValue = false): ConfigIssue {
    let cur: LNode | undefined = this.root;
    let at: At | undefined = this.root.at;
    let rest: KeyPath = path;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      let next: LNode | undefined;
      let nextAt: At | undefined;
      if (cur?.kind === 'map' && typeof seg === 'string') {
        const e = entryOf(cur, seg);
        if (e) {
          next = e.value;
          nextAt = last && !onValue ? e.keyAt : (e.value.at ?? e.keyAt);
        }
      } else if (cur?.kind === 'seq' && typeof seg === 'number') {
        next = cur.items[seg];
        nextAt = next?.at;
      }
      if (!next) break;
      cur = next;
      if (nextAt) {
        at = nextAt;
        rest = path.slice(i + 1);
      }
    }
    if (!at) return issueAt(this.fallback, message, path);
    return issueAt(at, message, [...at.path, ...rest]);
  }
}
