// nest: moves top-level keys under a new map (operation nest), or lifts a
// map's keys to the top level (operation lift), as Fluent Bit's nest filter.
// Keys are chosen by wildcard: `ABC*` takes every key starting with ABC,
// `ABC` only ABC, `*` all. add_prefix / remove_prefix rename the keys moved.
import type { Event, Record } from '../../sdk/src/codec/events.ts';
import { setField } from '../parsers/format.ts';
import { FilterConfigError, type Filter, type FilterKind } from './filter.ts';
import { rules } from './record-accessor.ts';

/** A map value (not a list, binary or time). */
export function isMap(v: unknown): v is Record {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Sets a key at the end of the record, replacing (and moving) one of the same name. */
function setLast(body: Record, key: string, value: unknown): void {
  if (Object.hasOwn(body, key)) delete body[key];
  setField(body, key, value);
}

export const nest: FilterKind = {
  description: 'Nests keys under a map, or lifts a map\'s keys to the top level',
  spec: {
    operation: { type: 'string', required: true, oneOf: ['nest', 'lift'], description: 'nest: move the keys matching wildcard under nest_under; lift: move the keys of the map nested_under to the top level' },
    wildcard: { type: 'string', description: 'With nest: keys to move, `prefix*` for every key starting with prefix (repeatable; required)' },
    nest_under: { type: 'string', description: 'With nest: the key of the new map (required)' },
    nested_under: { type: 'string', description: 'With lift: the key of the map to lift (required)' },
    add_prefix: { type: 'string', description: 'Prefix the keys moved with this text' },
    remove_prefix: { type: 'string', description: 'Remove this prefix from the keys moved that start with it' },
  },
  repeatable: ['wildcard'],
  create(config, ctx): Filter {
    const op = String(config.operation).toLowerCase();
    if (config.add_prefix !== undefined && config.remove_prefix !== undefined) throw new FilterConfigError('remove_prefix', 'add_prefix and remove_prefix exclude each other');
    const add = config.add_prefix as string | undefined;
    const remove = config.remove_prefix as string | undefined;
    const rename = add !== undefined ? (k: string) => add + k : remove !== undefined ? (k: string) => (k.startsWith(remove) ? k.slice(remove.length) : k) : (k: string) => k;
    if (op === 'nest') {
      // Fluent Bit takes nested_under for nest too (both set the same key).
      const under = (config.nest_under ?? config.nested_under) as string | undefined;
      if (under === undefined || under === '') throw new FilterConfigError('nest_under', 'required with operation nest: the key of the new map');
      const wildcards = rules(config.wildcard).map((w) => (w.endsWith('*') ? { prefix: w.slice(0, -1), exact: false } : { prefix: w, exact: true }));
      if (!wildcards.length) throw new FilterConfigError('wildcard', 'required with operation nest: the keys to nest (key, or prefix*)');
      const hit = (k: string) => wildcards.some((w) => (w.exact ? k === w.prefix : k.startsWith(w.prefix)));
      return {
        filter(e: Event) {
          const keys = Object.keys(e.body);
          if (!keys.some(hit)) return e;
          const out: Record = {};
          const inner: Record = {};
          for (const k of keys) setField(hit(k) ? inner : out, hit(k) ? rename(k) : k, e.body[k]);
          setLast(out, under, inner);
          e.body = out;
          return e;
        },
      };
    }
    const under = (config.nested_under ?? config.nest_under) as string | undefined;
    if (under === undefined || under === '') throw new FilterConfigError('nested_under', 'required with operation lift: the key of the map to lift');
    let warned = false;
    return {
      filter(e: Event) {
        if (!Object.hasOwn(e.body, under)) return e;
        const inner = e.body[under];
        if (!isMap(inner)) {
          if (!warned) {
            warned = true;
            ctx.log?.warn({ key: under }, 'nest lift: the value of the key is not a map; records like it are left as they are (logged once)');
          }
          return e;
        }
        const out: Record = {};
        for (const k of Object.keys(e.body)) if (k !== under) setField(out, k, e.body[k]);
        for (const k of Object.keys(inner)) setLast(out, rename(k), inner[k]);
        e.body = out;
        return e;
      },
    };
  },
};
