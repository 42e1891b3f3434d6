import type { Event } from './events.ts';

/**
 * One event as a JSON line: the body's keys, with the time under dateKey as
 * seconds with a fraction (Fluent Bit's json_date_format "double"); dateKey
 * '' leaves the time out.
 */
export function toJsonLine(e: Event, dateKey: string): string {
  const obj = dateKey ? { [dateKey]: e.time.toNumber(), ...e.body } : e.body;
  return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)) + '\n';
}
