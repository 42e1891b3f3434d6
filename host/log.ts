import pino, { type Logger } from 'pino';

export type { Logger };

/** Fluent Bit's level names, mapped onto pino's. */
const LEVELS: { [k: string]: string } = { off: 'silent', error: 'error', warn: 'warn', warning: 'warn', info: 'info', debug: 'debug', trace: 'trace' };
export const LOG_LEVELS = Object.keys(LEVELS);

/** The pino level for a Fluent Bit level name (plugins get this one). */
export function pinoLevel(level: string): string {
  return LEVELS[level] ?? level;
}

/** JSON lines on stderr; stdout belongs to the data (the stdout plugin). */
export function createLogger(level = 'info'): Logger {
  return pino({ level: pinoLevel(level), base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
