import pino, { type Logger } from 'pino';

export type { Logger };

/** Fluent Bit's level names, mapped onto pino's. */
const LEVELS: { [k: string]: string } = { off: 'silent', error: 'error', warn: 'warn', warning: 'warn', info: 'info', debug: 'debug', trace: 'trace' };
export const LOG_LEVELS = Object.keys(LEVELS);
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;

/** The pino level for a Fluent Bit level name (plugins get this one). */
export function pinoLevel(level: string): string {
  return LEVELS[level] ?? level;
}

const WORDS: { [n: number]: string } = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** Fields that say which part of sluice speaks: they come first, in this order. */
const COMPONENTS = ['input', 'filter', 'output', 'plugin'];
const OMIT = new Set(['level', 'time', 'pid', 'msg', ...COMPONENTS]);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON line as a line for a person: local time, level word, the
 * component in brackets, the message, then key=value. Anything that is not
 * pino's JSON passes through as it is.
 */
export function textLine(json: string): string {
  let o: { [k: string]: unknown };
  try {
    o = JSON.parse(json);
  } catch {
    return json;
  }
  const t = new Date(typeof o.time === 'number' ? o.time : Date.now());
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const time = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
  const who = COMPONENTS.filter((k) => o[k] !== undefined).map((k) => `${k}=${value(o[k])}`).join(' ');
  const rest = Object.entries(o).filter(([k]) => !OMIT.has(k)).map(([k, v]) => {
    if (k === 'err' && v && typeof v === 'object' && 'message' in v) return `err=${value((v as { message: unknown }).message)}`;
    return `${k}=${value(v)}`;
  });
  return [time, WORDS[o.level as number] ?? String(o.level), who ? `[${who}]` : '', o.msg ?? '', ...rest].filter(Boolean).join(' ') + '\n';
}

/**
 * Logs on stderr (stdout belongs to the data: the stdout plugin): JSON lines
 * for machines, or text lines for a person (format text, or auto on a
 * terminal).
 */
export function createLogger(level = 'info', format: (typeof LOG_FORMATS)[number] = 'json'): Logger {
  const dest = pino.destination({ fd: 2, sync: true });
  const text = format === 'text' || (format === 'auto' && process.stderr.isTTY);
  const stream = text ? { write: (line: string) => dest.write(textLine(line)) } : dest;
  return pino({ level: pinoLevel(level), base: { pid: process.pid } }, stream);
}
