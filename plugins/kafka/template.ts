// Templates over an event, for topic, message_key and header values:
//   logs-${tag}          the chunk's tag
//   ${tag[1]}            the tag's second dot-separated part
//   ${record.service}    a body field; nested: ${record.kubernetes.namespace}
// Text outside ${...} is kept as it is. Compiled once at Configure, so a
// typo is an error naming the key then, not a surprise per event.
import type { Event } from '../../sdk/src/index.ts';

/** undefined: the event lacks a field the template names (the caller picks a fallback). */
export type Template = (e: Event, tag: string) => string | undefined;

type Part = string | ((e: Event, tag: string) => string | undefined);

export class TemplateError extends Error {}

/** A body field by dotted path, as text; undefined when missing or null. */
export function fieldText(body: { [k: string]: unknown }, path: readonly string[]): string | undefined {
  let v: unknown = body;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as { [k: string]: unknown })[p];
  }
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'object') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  return String(v);
}

function reference(expr: string): Part {
  const tagPart = /^tag\[(\d+)\]$/.exec(expr);
  if (expr === 'tag') return (_e, tag) => tag;
  if (tagPart) {
    const i = Number(tagPart[1]);
    return (_e, tag) => tag.split('.')[i];
  }
  if (expr.startsWith('record.') && expr.length > 7) {
    const path = expr.slice(7).split('.');
    if (path.some((p) => p === '')) throw new TemplateError(`\${${expr}} has an empty field name`);
    return (e) => fieldText(e.body, path);
  }
  throw new TemplateError(`unknown reference \${${expr}}: use \${tag}, \${tag[N]} or \${record.FIELD}`);
}

export function compileTemplate(text: string): Template {
  const parts: Part[] = [];
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf('${', at);
    if (open < 0) {
      parts.push(text.slice(at));
      break;
    }
    if (open > at) parts.push(text.slice(at, open));
    const close = text.indexOf('}', open);
    if (close < 0) throw new TemplateError(`"\${" at offset ${open} is never closed with "}"`);
    parts.push(reference(text.slice(open + 2, close).trim()));
    at = close + 1;
  }
  if (parts.every((p) => typeof p === 'string')) {
    const fixed = parts.join('');
    return () => fixed;
  }
  return (e, tag) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else {
        const v = p(e, tag);
        if (v === undefined) return undefined;
        out += v;
      }
    }
    return out;
  };
}

/** True when the text has no ${...}: the same value for every event. */
export function isFixed(text: string): boolean {
  return !text.includes('${');
}
