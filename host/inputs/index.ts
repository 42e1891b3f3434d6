import { dummy } from './dummy/dummy.ts';
import type { InputKind } from './input.ts';
import { stdin } from './stdin/stdin.ts';
import { tail } from './tail/tail.ts';

export const INPUTS: { [name: string]: InputKind } = { tail, dummy, stdin };
