/** Fluent Bit's match: `*` matches any run of characters, everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

export interface Routable {
  readonly name: string;
  readonly match: RegExp;
}

/** Which outputs a tag goes to; cached per tag because tags repeat. */
export class Router<T extends Routable> {
  private readonly outputs: readonly T[];
  private readonly cache = new Map<string, T[]>();
  constructor(outputs: readonly T[]) {
    this.outputs = outputs;
  }
  route(tag: string): T[] {
    let hit = this.cache.get(tag);
    if (!hit) {
      hit = this.outputs.filter((o) => o.match.test(tag));
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(tag, hit);
    }
    return hit;
  }
}
