// Making filters in unit tests: from raw keys (checked by the filter's spec,
// as the loader does) with a real Metrics and a silent logger.
import assert from 'node:assert/strict';
import pino from 'pino';
import { EventTime, type Event } from '../../sdk/src/codec/events.ts';
import { applySpec } from '../../sdk/src/config-spec.ts';
import { Metrics } from '../../host/api/metrics.ts';
import type { Filter, FilterContext, FilterKind } from '../../host/filters/filter.ts';
import { Parsers } from '../../host/parsers/registry.ts';
import type { ParserDef } from '../../host/parsers/parser.ts';

export const ev = (body: { [k: string]: unknown }, sec = 1): Event => ({ time: new EventTime(sec, 0), metadata: {}, body });

export function context(over: Partial<FilterContext> = {}, parsers: ParserDef[] = []): FilterContext {
  return { name: 'f.0', log: pino({ level: 'silent' }), metrics: new Metrics(), parsers: new Parsers(parsers), ...over };
}

/** The filter and its context; raw keys go through the kind's spec (repeatable keys as lists). */
export function makeFilter(kind: FilterKind, raw: { [k: string]: unknown }, ctx: FilterContext = context()): { f: Filter; ctx: FilterContext } {
  return { f: kind.create(checked(kind, raw), ctx), ctx };
}

/** Raw keys as the loader gives them to create(): checked by the spec, repeatable keys item by item, as lists. */
export function checked(kind: FilterKind, raw: { [k: string]: unknown }): { [k: string]: any } {
  const rep = kind.repeatable ?? [];
  const single = Object.fromEntries(Object.entries(raw).filter(([k]) => !rep.includes(k)));
  const { values, errors } = applySpec(Object.fromEntries(Object.entries(kind.spec).filter(([k]) => !rep.includes(k))), single);
  assert.deepEqual(errors, []);
  for (const k of rep) {
    const v = raw[k];
    const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
    values[k] = list.map((x) => {
      const one = applySpec({ [k]: kind.spec[k]! }, { [k]: x });
      assert.deepEqual(one.errors, []);
      return one.values[k];
    });
  }
  return values;
}

/** A counter's value for a name label. */
export async function counter(m: Metrics, metric: string, name: string): Promise<number> {
  const c = (await m.registry.getMetricsAsJSON()).find((x) => x.name === metric);
  return (c?.values.find((v) => v.labels.name === name)?.value as number | undefined) ?? 0;
}
