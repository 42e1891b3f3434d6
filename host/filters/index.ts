// The built-in filters, by name.
import type { FilterKind } from './filter.ts';

export const FILTERS: { [name: string]: FilterKind } = {};
