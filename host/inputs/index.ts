import { dummy } from './dummy/dummy.ts';
import { forward } from './forward/forward.ts';
import { http } from './http/http.ts';
import type { InputKind } from './input.ts';
import { stdin } from './stdin/stdin.ts';
import { tail } from './tail/tail.ts';
import { tcp } from './tcp/tcp.ts';

export const INPUTS: { [name: string]: InputKind } = { tail, dummy, stdin, http, tcp, forward };
