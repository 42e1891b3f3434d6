// What a reload changes: components compared by instance name and by every
// setting that affects their behaviour.
import type { FilterConfig, InputConfig, OutputConfig, SluiceConfig } from '../config/load.ts';
import { FILTERS } from '../filters/index.ts';

export interface ConfigDiff {
  outputs: { added: OutputConfig[]; removed: string[]; changed: OutputConfig[]; unchanged: string[] };
  inputs: { added: InputConfig[]; removed: string[]; changed: InputConfig[]; unchanged: string[] };
  filters: { added: FilterConfig[]; removed: string[]; changed: FilterConfig[]; unchanged: string[] };
  /** Service keys that only a restart can change. */
  restartOnly: string[];
}

/** Service keys a reload applies; the others need a restart. */
export const RELOADABLE_SERVICE_KEYS = ['flush', 'grace', 'log_level', 'reload.drain_timeout'];

const outputKey = (o: OutputConfig, svc: SluiceConfig['service']) =>
  JSON.stringify({ ...o, path: undefined, match: o.match.source, retryBase: svc['scheduler.base'], retryCap: svc['scheduler.cap'] });
const inputKey = (i: InputConfig) => JSON.stringify({ ...i, path: undefined });

/**
 * A filter's settings, and the definitions of the parsers it names: a
 * filter is changed when either changes (a parser filter whose parser's
 * regex changed is a changed filter); its position in the list is not part of it.
 */
export function filterKey(f: FilterConfig, config: SluiceConfig): string {
  const kind = FILTERS[f.kind];
  const named = (keys: readonly string[] | undefined) => keys?.flatMap((k) => {
    const v = f.values[k];
    return v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
  }) ?? [];
  const parsers = named(kind?.parserKeys).map((n) => config.parsers.find((d) => d.name === n) ?? n);
  const multiline = named(kind?.multilineParserKeys).map((n) => config.multilineParsers.find((d) => d.name === n) ?? n);
  return JSON.stringify({ kind: f.kind, match: [f.match.source, f.match.flags], values: f.values, parsers, multiline });
}

function diffBy<T extends { instance: string }>(before: T[], after: T[], keyBefore: (t: T) => string, key = keyBefore) {
  const old = new Map(before.map((t) => [t.instance, keyBefore(t)]));
  const now = new Set(after.map((t) => t.instance));
  const added: T[] = [];
  const changed: T[] = [];
  const unchanged: string[] = [];
  for (const t of after) {
    const k = old.get(t.instance);
    if (k === undefined) added.push(t);
    else if (k !== key(t)) changed.push(t);
    else unchanged.push(t.instance);
  }
  return { added, changed, unchanged, removed: before.filter((t) => !now.has(t.instance)).map((t) => t.instance) };
}

export function diffConfigs(before: SluiceConfig, after: SluiceConfig): ConfigDiff {
  const restartOnly = Object.keys({ ...before.service, ...after.service }).filter(
    (k) => !RELOADABLE_SERVICE_KEYS.includes(k) && !k.startsWith('scheduler.') && JSON.stringify(before.service[k]) !== JSON.stringify(after.service[k]),
  );
  return {
    outputs: diffBy(before.outputs, after.outputs, (o) => outputKey(o, before.service), (o) => outputKey(o, after.service)),
    inputs: diffBy(before.inputs, after.inputs, inputKey),
    filters: diffBy(before.filters, after.filters, (f) => filterKey(f, before), (f) => filterKey(f, after)),
    restartOnly,
  };
}
