// format ltsv (ltsv.org): label:value fields separated by tabs. As Fluent
// Bit reads it: a label is [0-9A-Za-z_.-]+; a value runs to the next tab,
// CR or LF; the record ends at a line end or at a field that is not
// label:value (the fields before it are kept).
import type { Record } from '../../sdk/src/codec/events.ts';
import { FieldParser } from './format.ts';
import type { Parsed } from './parser.ts';

function isLabelChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 45;
}

function isValueChar(c: number): boolean {
  return c !== 9 && c !== 10 && c !== 13 && c !== 0;
}

export class LtsvParser extends FieldParser {
  parse(text: string): Parsed | undefined {
    this.begin();
    const body: Record = {};
    const len = text.length;
    let fields = 0;
    let i = 0;
    while (i < len) {
      const labelStart = i;
      while (i < len && isLabelChar(text.charCodeAt(i))) i++;
      if (i >= len || text.charCodeAt(i) !== 58 /* : */) break;
      const label = text.slice(labelStart, i);
      const valueStart = ++i;
      while (i < len && isValueChar(text.charCodeAt(i))) i++;
      // A field with an empty label is skipped, not the end (Fluent Bit reads on too).
      if (label !== '') {
        this.field(body, label, text.slice(valueStart, i));
        fields++;
      }
      if (i < len && text.charCodeAt(i) === 9) i++;
      else break;
    }
    return fields ? this.finish(body) : undefined;
  }
}
