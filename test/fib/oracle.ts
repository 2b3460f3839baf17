/**
 * Test helper for the FIB conformance suite: an independent longest-prefix
 * match oracle and a family-neutral view of the tables of fib/types.ts, so
 * that one suite drives IPv4 and IPv6 alike.
 *
 * Here addresses and prefixes are bigints (0 .. 2^32 - 1 or 2^128 - 1). The
 * oracle keeps a sorted list of routes and answers a lookup by scanning all
 * of them, comparing prefixes with bigint shifts. It shares no code with
 * fib/ (only the NO_ROUTE constant and the types), so it can check the naive
 * reference as well as the fast tables.
 */
import type { Lpm4, Lpm6, RouteList } from "../../fib/types.ts";
import { NO_ROUTE } from "../../fib/types.ts";

export type Bits = 32 | 128;

export interface Route {
  readonly prefix: bigint;
  readonly length: number;
  readonly nextHop: number;
}

/** The largest address of a family. */
export function maxAddr(bits: Bits): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** `addr` with every bit past `length` cleared. */
export function maskTo(bits: Bits, addr: bigint, length: number): bigint {
  const shift = BigInt(bits - length);
  return (addr >> shift) << shift;
}

/** The last address a prefix covers. */
export function lastOf(bits: Bits, prefix: bigint, length: number): bigint {
  return prefix | ((1n << BigInt(bits - length)) - 1n);
}

/** Whether `prefix/length` covers `addr`. */
export function covers(bits: Bits, prefix: bigint, length: number, addr: bigint): boolean {
  const shift = BigInt(bits - length);
  return addr >> shift === prefix >> shift;
}

/** Orders routes by length, then prefix. */
export function compareRoutes(a: Route, b: Route): number {
  if (a.length !== b.length) return a.length - b.length;
  return a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0;
}

/** Text of an address, written without any help from fib/ (IPv6 uncompressed). */
export function addrText(bits: Bits, addr: bigint): string {
  if (bits === 32) {
    const bytes: number[] = [];
    for (let i = 3; i >= 0; i--) bytes.push(Number((addr >> BigInt(i * 8)) & 255n));
    return bytes.join(".");
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((addr >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":");
}

export function routeText(bits: Bits, prefix: bigint, length: number): string {
  return `${addrText(bits, prefix)}/${length}`;
}

/** An address as 32-bit words, most significant first (1 word for IPv4, 4 for IPv6). */
export function toWords(bits: Bits, addr: bigint): Uint32Array {
  const n = bits / 32;
  const words = new Uint32Array(n);
  for (let w = 0; w < n; w++) words[w] = Number((addr >> BigInt((n - 1 - w) * 32)) & 0xffffffffn);
  return words;
}

/** The inverse of toWords, reading `bits / 32` words from `offset`. */
export function fromWords(bits: Bits, words: ArrayLike<number>, offset = 0): bigint {
  let addr = 0n;
  for (let w = 0; w < bits / 32; w++) addr = (addr << 32n) | BigInt(words[offset + w] >>> 0);
  return addr;
}

/** A prefix as a TypeScript argument, for reproductions that can be pasted into a test. */
export function prefixCode(bits: Bits, prefix: bigint): string {
  const hex = Array.from(toWords(bits, prefix), (w) => `0x${w.toString(16).padStart(8, "0")}`);
  return bits === 32 ? hex[0] : `[${hex.join(", ")}]`;
}

/** A route with what the scan compares, worked out once. */
interface Entry {
  readonly route: Route;
  readonly shift: bigint;
  readonly key: bigint;
}

/** The oracle: a sorted list of routes, scanned linearly. */
export class LinearLpm {
  readonly bits: Bits;
  private entriesList: Entry[] = [];

  constructor(bits: Bits) {
    this.bits = bits;
  }

  /** An oracle holding `routes` (a later duplicate replaces an earlier one). */
  static from(bits: Bits, routes: readonly Route[]): LinearLpm {
    const o = new LinearLpm(bits);
    const byKey = new Map<string, Route>();
    for (const r of routes) byKey.set(`${r.prefix}/${r.length}`, r);
    o.entriesList = [...byKey.values()].sort(compareRoutes).map((r) => o.entry(r));
    return o;
  }

  private entry(route: Route): Entry {
    if (maskTo(this.bits, route.prefix, route.length) !== route.prefix) {
      throw new Error(
        `oracle: ${routeText(this.bits, route.prefix, route.length)} has host bits set`,
      );
    }
    const shift = BigInt(this.bits - route.length);
    return { route, shift, key: route.prefix >> shift };
  }

  get size(): number {
    return this.entriesList.length;
  }

  private find(prefix: bigint, length: number): { index: number; found: boolean } {
    let lo = 0;
    let hi = this.entriesList.length;
    const probe = { prefix, length, nextHop: 0 };
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareRoutes(this.entriesList[mid].route, probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    const r = this.entriesList[lo]?.route;
    return { index: lo, found: r !== undefined && r.prefix === prefix && r.length === length };
  }

  insert(prefix: bigint, length: number, nextHop: number): void {
    const e = this.entry({ prefix, length, nextHop });
    const { index, found } = this.find(prefix, length);
    this.entriesList.splice(index, found ? 1 : 0, e);
  }

  delete(prefix: bigint, length: number): boolean {
    const { index, found } = this.find(prefix, length);
    if (found) this.entriesList.splice(index, 1);
    return found;
  }

  get(prefix: bigint, length: number): number {
    const { index, found } = this.find(prefix, length);
    return found ? this.entriesList[index].route.nextHop : NO_ROUTE;
  }

  /** The longest route covering `addr`, by scanning every route. */
  match(addr: bigint): Route | undefined {
    let best: Route | undefined;
    for (const e of this.entriesList) {
      if ((best === undefined || e.route.length > best.length) && addr >> e.shift === e.key) {
        best = e.route;
      }
    }
    return best;
  }

  lookup(addr: bigint): number {
    return this.match(addr)?.nextHop ?? NO_ROUTE;
  }

  /** Every route covering `addr`, shortest first. */
  covering(addr: bigint): Route[] {
    return this.entriesList.filter((e) => addr >> e.shift === e.key).map((e) => e.route);
  }

  entries(): Route[] {
    return this.entriesList.map((e) => e.route);
  }

  clear(): void {
    this.entriesList = [];
  }
}

/** Builds a RouteList by hand (not with RouteListBuilder, which is under test elsewhere). */
export function routeList(bits: Bits, routes: readonly Route[]): RouteList {
  const w = bits / 32;
  const prefixes = new Uint32Array(routes.length * w);
  const lengths = new Uint8Array(routes.length);
  const nextHops = new Uint16Array(routes.length);
  routes.forEach((r, i) => {
    prefixes.set(toWords(bits, r.prefix), i * w);
    lengths[i] = r.length;
    nextHops[i] = r.nextHop;
  });
  return { family: bits === 32 ? 4 : 6, count: routes.length, prefixes, lengths, nextHops };
}

/**
 * A table of either family seen through bigints. The IPv6 view varies how it
 * calls the table (plain arrays and typed arrays, lookups at offset 0 and
 * inside a larger buffer full of other words) and scribbles over the arrays it
 * passed once the call returns, so a table that keeps a caller's array or
 * ignores `offset` gives itself away.
 */
export interface AnyTable {
  readonly bits: Bits;
  readonly inner: Lpm4 | Lpm6;
  readonly size: number;
  insert(prefix: bigint, length: number, nextHop: number): void;
  delete(prefix: bigint, length: number): boolean;
  get(prefix: bigint, length: number): number;
  lookup(addr: bigint): number;
  /** Packs `addrs` (followed by `junk` extra addresses) and calls lookupBatch. */
  lookupBatch(addrs: readonly bigint[], out: Uint16Array, count?: number, junk?: number): void;
  /** Everything forEach hands out, in the table's order. */
  routes(): Route[];
  load(routes: readonly Route[] | RouteList): void;
  clear(): void;
}

export function view4(t: Lpm4): AnyTable {
  return {
    bits: 32,
    inner: t,
    get size() {
      return t.size;
    },
    insert: (p, len, nh) => t.insert(Number(p), len, nh),
    delete: (p, len) => t.delete(Number(p), len),
    get: (p, len) => t.get(Number(p), len),
    lookup: (a) => t.lookup(Number(a)),
    lookupBatch(addrs, out, count, junk = 0) {
      const packed = new Uint32Array(addrs.length + junk);
      addrs.forEach((a, i) => {
        packed[i] = Number(a);
      });
      for (let i = addrs.length; i < packed.length; i++) packed[i] = (i * 0x9e3779b1) >>> 0;
      if (count === undefined) t.lookupBatch(packed, out);
      else t.lookupBatch(packed, out, count);
    },
    routes() {
      const out: Route[] = [];
      t.forEach((p, len, nh) => {
        out.push({ prefix: BigInt(p >>> 0), length: len, nextHop: nh });
      });
      return out;
    },
    load: (routes) => t.load(isRouteList(routes) ? routes : routeList(32, routes)),
    clear: () => t.clear(),
  };
}

export function view6(t: Lpm6): AnyTable {
  let calls = 0;
  /** Plain array or typed array, alternately; the caller scribbles over it afterwards. */
  const arg = (p: bigint): Uint32Array | number[] => {
    const w = toWords(128, p);
    return calls++ % 2 === 0 ? w : Array.from(w);
  };
  const scribble = (a: Uint32Array | number[]) => a.fill(0xa5a5a5a5);
  const buffer = new Uint32Array(12);
  return {
    bits: 128,
    inner: t,
    get size() {
      return t.size;
    },
    insert(p, len, nh) {
      const a = arg(p);
      t.insert(a, len, nh);
      scribble(a);
    },
    delete(p, len) {
      const a = arg(p);
      const removed = t.delete(a, len);
      scribble(a);
      return removed;
    },
    get(p, len) {
      const a = arg(p);
      const nh = t.get(a, len);
      scribble(a);
      return nh;
    },
    lookup(addr) {
      const w = toWords(128, addr);
      if (calls++ % 2 === 0) return t.lookup(Array.from(w));
      // Inside a larger buffer, surrounded by the address's complement.
      const offset = 1 + (calls % 7);
      for (let i = 0; i < buffer.length; i++) buffer[i] = ~w[i % 4] >>> 0;
      buffer.set(w, offset);
      return t.lookup(buffer, offset);
    },
    lookupBatch(addrs, out, count, junk = 0) {
      const packed = new Uint32Array((addrs.length + junk) * 4);
      addrs.forEach((a, i) => {
        packed.set(toWords(128, a), i * 4);
      });
      for (let i = addrs.length * 4; i < packed.length; i++) packed[i] = (i * 0x9e3779b1) >>> 0;
      if (count === undefined) t.lookupBatch(packed, out);
      else t.lookupBatch(packed, out, count);
    },
    routes() {
      const out: Route[] = [];
      t.forEach((p, len, nh) => {
        out.push({ prefix: fromWords(128, p), length: len, nextHop: nh });
      });
      return out;
    },
    load: (routes) => t.load(isRouteList(routes) ? routes : routeList(128, routes)),
    clear: () => t.clear(),
  };
}

function isRouteList(x: readonly Route[] | RouteList): x is RouteList {
  return !Array.isArray(x);
}

/** A small seeded generator (mulberry32), for the large randomized tables. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in 0 .. n - 1 (n up to 2^32). */
  below(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  /** Picks a value from `[value, weight]` pairs. */
  weighted<T>(table: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of table) total += w;
    let x = (this.u32() / 0x100000000) * total;
    for (const [v, w] of table) {
      if (x < w) return v;
      x -= w;
    }
    return table[table.length - 1][0];
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/**
 * Delta debugging (ddmin): a smallest-it-can-find subset of `items` for which
 * `fails` still holds. `fails(items)` must be true on entry.
 */
export function minimize<T>(items: readonly T[], fails: (subset: readonly T[]) => boolean): T[] {
  let current = items.slice();
  let chunks = 2;
  while (current.length >= 2) {
    const size = Math.ceil(current.length / chunks);
    let reduced = false;
    for (let start = 0; start < current.length; start += size) {
      const complement = current.slice(0, start).concat(current.slice(start + size));
      if (complement.length > 0 && fails(complement)) {
        current = complement;
        chunks = Math.max(chunks - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (chunks >= current.length) break;
      chunks = Math.min(current.length, chunks * 2);
    }
  }
  return current;
}
