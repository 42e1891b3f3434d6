// The types key: "key:integer key2:bool key3:float key4:hex key5:string",
// casting the string values that regex, logfmt and ltsv produce (JSON values
// already have types, and Fluent Bit leaves them alone too).

export type FieldType = 'integer' | 'bool' | 'float' | 'hex' | 'string';

const TYPE_NAMES: readonly FieldType[] = ['integer', 'bool', 'float', 'hex', 'string'];

/** Parses a types value; throws Error with a message naming the bad entry. */
export function parseTypes(spec: string): Map<string, FieldType> {
  const out = new Map<string, FieldType>();
  for (const entry of spec.split(/\s+/)) {
    if (!entry) continue;
    const colon = entry.lastIndexOf(':');
    if (colon <= 0) throw new Error(`entry ${JSON.stringify(entry)} is not key:type`);
    const key = entry.slice(0, colon);
    const type = entry.slice(colon + 1).toLowerCase() as FieldType;
    if (!TYPE_NAMES.includes(type)) {
      throw new Error(`entry ${JSON.stringify(entry)} has an unknown type ${JSON.stringify(entry.slice(colon + 1))}; types are ${TYPE_NAMES.join(', ')}`);
    }
    out.set(key, type);
  }
  return out;
}

const INT_PREFIX = /^\s*[+-]?\d+/;
const FLOAT_PREFIX = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const HEX_PREFIX = /^\s*(?:0[xX])?[0-9a-fA-F]+/;

/**
 * Casts as Fluent Bit does (atoll, atof, strtoull base 16: the leading
 * number of the text, "12ms" is 12), except that a text with no leading
 * number, an integer past 2^53 that a JS number would round, or a float
 * past a double's range stays a string instead of becoming 0 or a wrong
 * number (no inf/nan either: JSON outputs cannot carry them).
 */
export function castValue(type: FieldType, value: string): unknown {
  switch (type) {
    case 'string':
      return value;
    case 'bool': {
      // Fluent Bit: true/false by prefix, case-insensitive; anything else stays a string.
      const v = value.slice(0, 5).toLowerCase();
      if (v.startsWith('true')) return true;
      if (v === 'false') return false;
      return value;
    }
    case 'integer': {
      const m = INT_PREFIX.exec(value);
      if (!m) return value;
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : value;
    }
    case 'float': {
      const m = FLOAT_PREFIX.exec(value);
      if (!m) return value;
      // An exponent past a double's range stays text, not Infinity.
      const n = Number(m[0]);
      return Number.isFinite(n) ? n : value;
    }
    case 'hex': {
      const m = HEX_PREFIX.exec(value);
      if (!m) return value;
      const n = parseInt(m[0].trim(), 16);
      return Number.isSafeInteger(n) ? n : value;
    }
  }
}
