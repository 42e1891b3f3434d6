// The built-in filters, by name.
import type { FilterKind } from './filter.ts';
import { grep } from './grep.ts';
import { modify } from './modify.ts';

export const FILTERS: { [name: string]: FilterKind } = { grep, modify };
