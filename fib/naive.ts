/**
 * The naive reference FIB: one hash map per prefix length, looked up from the
 * longest length down. `load` checks the whole list before changing anything. Obviously correct and slow; every fast table is
 * tested against it, and the benchmark runs it side by side.
 */
import { checkNextHop, checkPrefix4, checkPrefix6, mask4, mask6Word } from "./prefix.ts";
import { type Lpm4, type Lpm6, type NextHop, NO_ROUTE, type RouteList } from "./types.ts";

export class NaiveLpm4 implements Lpm4 {
  readonly family = 4 as const;
  private readonly byLength: Map<number, NextHop>[] = Array.from({ length: 33 }, () => new Map());
  private count = 0;

  get size(): number {
    return this.count;
  }

  insert(prefix: number, length: number, nextHop: NextHop): void {
    checkPrefix4(prefix, length);
    checkNextHop(nextHop);
    const map = this.byLength[length];
    if (!map.has(prefix)) this.count++;
    map.set(prefix, nextHop);
  }

  delete(prefix: number, length: number): boolean {
    checkPrefix4(prefix, length);
    const removed = this.byLength[length].delete(prefix);
    if (removed) this.count--;
    return removed;
  }

  get(prefix: number, length: number): NextHop {
    checkPrefix4(prefix, length);
    return this.byLength[length].get(prefix) ?? NO_ROUTE;
  }

  lookup(addr: number): NextHop {
    for (let length = 32; length >= 0; length--) {
      const map = this.byLength[length];
      if (map.size === 0) continue;
      const hit = map.get((addr & mask4(length)) >>> 0);
      if (hit !== undefined) return hit;
    }
    return NO_ROUTE;
  }

  lookupBatch(addrs: Uint32Array, out: Uint16Array, count = out.length): void {
    for (let i = 0; i < count; i++) out[i] = this.lookup(addrs[i]);
  }

  forEach(visit: (prefix: number, length: number, nextHop: NextHop) => void): void {
    this.byLength.forEach((map, length) => {
      for (const [prefix, nextHop] of map) visit(prefix, length, nextHop);
    });
  }

  load(routes: RouteList): void {
    if (routes.family !== 4) throw new RangeError("IPv4 table given an IPv6 route list");
    for (let i = 0; i < routes.count; i++) {
      checkPrefix4(routes.prefixes[i], routes.lengths[i]);
      checkNextHop(routes.nextHops[i]);
    }
    this.clear();
    for (let i = 0; i < routes.count; i++) {
      this.insert(routes.prefixes[i], routes.lengths[i], routes.nextHops[i]);
    }
  }

  clear(): void {
    for (const map of this.byLength) map.clear();
    this.count = 0;
  }

  /** Rough: a JS Map entry with a number key and value costs about 40 bytes. */
  bytes(): number {
    return this.count * 40;
  }
}

function key6(words: ArrayLike<number>, offset: number, length: number): string {
  let key = "";
  for (let w = 0; w < 4 && w * 32 < length; w++) {
    key += `${((words[offset + w] & mask6Word(length, w)) >>> 0).toString(16)}:`;
  }
  return key;
}

export class NaiveLpm6 implements Lpm6 {
  readonly family = 6 as const;
  private readonly byLength: Map<string, NextHop>[] = Array.from({ length: 129 }, () => new Map());
  private count = 0;

  get size(): number {
    return this.count;
  }

  insert(prefix: ArrayLike<number>, length: number, nextHop: NextHop): void {
    checkPrefix6(prefix, length);
    checkNextHop(nextHop);
    const map = this.byLength[length];
    const key = key6(prefix, 0, length);
    if (!map.has(key)) this.count++;
    map.set(key, nextHop);
  }

  delete(prefix: ArrayLike<number>, length: number): boolean {
    checkPrefix6(prefix, length);
    const removed = this.byLength[length].delete(key6(prefix, 0, length));
    if (removed) this.count--;
    return removed;
  }

  get(prefix: ArrayLike<number>, length: number): NextHop {
    checkPrefix6(prefix, length);
    return this.byLength[length].get(key6(prefix, 0, length)) ?? NO_ROUTE;
  }

  lookup(words: ArrayLike<number>, offset = 0): NextHop {
    for (let length = 128; length >= 0; length--) {
      const map = this.byLength[length];
      if (map.size === 0) continue;
      const hit = map.get(key6(words, offset, length));
      if (hit !== undefined) return hit;
    }
    return NO_ROUTE;
  }

  lookupBatch(addrs: Uint32Array, out: Uint16Array, count = out.length): void {
    for (let i = 0; i < count; i++) out[i] = this.lookup(addrs, i * 4);
  }

  forEach(visit: (prefix: ArrayLike<number>, length: number, nextHop: NextHop) => void): void {
    this.byLength.forEach((map, length) => {
      for (const [key, nextHop] of map) {
        const words = new Uint32Array(4);
        key
          .split(":")
          .filter((part) => part !== "")
          .forEach((part, w) => {
            words[w] = Number.parseInt(part, 16);
          });
        visit(words, length, nextHop);
      }
    });
  }

  load(routes: RouteList): void {
    if (routes.family !== 6) throw new RangeError("IPv6 table given an IPv4 route list");
    for (let i = 0; i < routes.count; i++) {
      checkPrefix6(routes.prefixes.subarray(i * 4, i * 4 + 4), routes.lengths[i]);
      checkNextHop(routes.nextHops[i]);
    }
    this.clear();
    for (let i = 0; i < routes.count; i++) {
      this.insert(
        routes.prefixes.subarray(i * 4, i * 4 + 4),
        routes.lengths[i],
        routes.nextHops[i],
      );
    }
  }

  clear(): void {
    for (const map of this.byLength) map.clear();
    this.count = 0;
  }

  /** Rough: a JS Map entry with a short string key costs about 80 bytes. */
  bytes(): number {
    return this.count * 80;
  }
}
