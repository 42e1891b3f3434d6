// Log lines as container runtimes write them, for tail's multiline tests.
//
// dockerd, json-file driver (moby daemon/logger/copier.go and
// jsonfilelog): the copier reads a container's stream into a 16 KiB buffer;
// a line that does not fit goes out in pieces of exactly 16384 bytes, each a
// JSON line of its own whose "log" has no trailing "\n"; the last piece (or
// a whole line) ends with "\n". Every piece of one line carries the first
// piece's time. The JSON is moby's: "log", "stream", ("attrs"), "time";
// strings escaped as Go does for HTML (<, >, & as \u003c ...; control bytes
// other than \n and \r as \u00XX), times in RFC 3339 with nanoseconds,
// trailing zeros dropped.
//
// containerd, CRI (pkg/cri/io/logger.go): "<time> <stream> <tag> <text>\n",
// the time in RFC 3339 with nanoseconds (the node's zone; CRI-O writes
// +00:00 where containerd writes Z); a line longer than
// max_container_log_line_size (16 KiB by default) goes out in pieces of that
// many bytes tagged P, the last one F; each piece gets its own time.
import { Buffer } from 'node:buffer';

export const DOCKER_PIECE_BYTES = 16 * 1024;
export const CRI_PIECE_BYTES = 16 * 1024;

/** A string as moby's jsonlog writes it (Go's HTML-safe escaping). */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Cuts text into pieces of `size` bytes, refusing to cut a UTF-8 character (the runtimes would; the tests keep to clean cuts). */
export function cutBytes(text: string, size: number): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: string[] = [];
  for (let at = 0; at < bytes.length || pieces.length === 0; at += size) {
    const end = Math.min(at + size, bytes.length);
    if (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) throw new Error(`a cut at byte ${end} would split a character; move it`);
    pieces.push(bytes.subarray(at, end).toString('utf8'));
  }
  return pieces;
}

export interface DockerLine {
  /** The line the container wrote, without its "\n". */
  text: string;
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as Go prints it. */
  time: string;
  attrs?: { [k: string]: string };
}

/** The json-file lines dockerd writes for one line of a container (several when it is over 16 KiB). */
export function dockerLines(l: DockerLine, pieceBytes = DOCKER_PIECE_BYTES): string[] {
  const pieces = cutBytes(l.text, pieceBytes);
  return pieces.map((p, i) => {
    const log = i === pieces.length - 1 ? `${p}\n` : p;
    const attrs = l.attrs ? `,"attrs":{${Object.entries(l.attrs).map(([k, v]) => `${goJsonString(k)}:${goJsonString(v)}`).join(',')}}` : '';
    return `{"log":${goJsonString(log)},"stream":"${l.stream}"${attrs},"time":"${l.time}"}\n`;
  });
}

export interface CriLine {
  text: string;
  stream: 'stdout' | 'stderr';
  /** One time per piece (the runtime stamps each as it writes it); the last is reused if there are fewer. */
  times: string[];
}

/** The lines containerd writes for one line of a container (P pieces, then F). */
export function criLines(l: CriLine, pieceBytes = CRI_PIECE_BYTES): string[] {
  const pieces = cutBytes(l.text, pieceBytes);
  return pieces.map((p, i) => `${l.times[Math.min(i, l.times.length - 1)]} ${l.stream} ${i === pieces.length - 1 ? 'F' : 'P'} ${p}\n`);
}
