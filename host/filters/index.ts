// The built-in filters, by name.
import type { FilterKind } from './filter.ts';
import { grep } from './grep.ts';
import { modify } from './modify.ts';
import { multiline } from './multiline.ts';
import { nest } from './nest.ts';
import { parser } from './parser.ts';
import { rewriteTag } from './rewrite-tag.ts';
import { throttle } from './throttle.ts';

export const FILTERS: { [name: string]: FilterKind } = { grep, modify, multiline, nest, parser, rewrite_tag: rewriteTag, throttle };
