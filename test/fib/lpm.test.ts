/**
 * Conformance suite for every longest-prefix-match table of fib/ (the
 * contract of fib/types.ts): each implementation, IPv4 and IPv6, is held
 * against the linear-scan oracle of ./oracle.ts on random operation
 * sequences (fast-check, shrunk to a minimal reproduction printed as code),
 * on hand-written edge cases and misuse, and against the naive reference on
 * large tables shaped like the real ones.
 *
 * Poptrie runs with several direct-pointing widths, since bugs hide where a
 * prefix length meets a level boundary (S, S + 5, S + 10, ...).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NaiveLpm4, NaiveLpm6 } from "../../fib/naive.ts";
import { Poptrie4, Poptrie6 } from "../../fib/poptrie.ts";
import { RouteListBuilder } from "../../fib/prefix.ts";
import {
  type Lpm4,
  type Lpm6,
  MAX_NEXT_HOP,
  type NextHop,
  NO_ROUTE,
  type RouteList,
} from "../../fib/types.ts";
import {
  type AnyTable,
  type Bits,
  compareRoutes,
  covers,
  fromWords,
  LinearLpm,
  lastOf,
  maskTo,
  maxAddr,
  minimize,
  prefixCode,
  Rng,
  type Route,
  routeList,
  routeText,
  toWords,
  view4,
  view6,
} from "./oracle.ts";

// ---- the implementations under test -----------------------------------------

interface Subject {
  readonly name: string;
  readonly bits: Bits;
  /** The constructor call, for reproductions. */
  readonly code: string;
  /** Property runs, and operations a run, per test (tables with a wide direct array cost more to build and walk). */
  readonly runs: number;
  readonly maxOps: number;
  /** Poptrie's direct-pointing width, to aim prefix lengths at its level boundaries. */
  readonly directBits?: number;
  /** A fresh table, seen through bigints. */
  make(): AnyTable;
}

/** Scales the property runs: FIB_PROPERTY_RUNS=2000 for a deeper search (50 by default). */
const RUNS = Number(process.env.FIB_PROPERTY_RUNS ?? 50);

/** Fewer, longer runs where building and walking a table costs O(2^directBits). */
function budget(directBits: number): { runs: number; maxOps: number } {
  if (directBits >= 19) return { runs: Math.max(1, Math.round(RUNS / 8)), maxOps: 200 };
  if (directBits >= 18) return { runs: Math.max(1, Math.round(RUNS / 4)), maxOps: 150 };
  return { runs: RUNS, maxOps: 60 };
}

/**
 * Poptrie at several fixed direct-pointing widths, and built with no options
 * (a table that sizes its direct array to its content).
 */
function poptries<T extends Lpm4 | Lpm6>(
  family: "Poptrie4" | "Poptrie6",
  widths: number[],
  make: (options?: { directBits: number }) => T & { readonly directBits: number },
  view: (t: T) => AnyTable,
): Subject[] {
  const bits: Bits = family === "Poptrie4" ? 32 : 128;
  const fixed = widths.map(
    (directBits): Subject => ({
      name: `new ${family}({ directBits: ${directBits} })`,
      bits,
      code: `new ${family}({ directBits: ${directBits} })`,
      directBits,
      ...budget(directBits),
      make: () => view(make({ directBits })),
    }),
  );
  const initial = make().directBits;
  const sized: Subject = {
    name: `new ${family}() (directBits ${initial} when empty)`,
    bits,
    code: `new ${family}()`,
    directBits: initial,
    ...budget(initial),
    make: () => view(make()),
  };
  return [sized, ...fixed];
}

const subjects: Subject[] = [
  {
    name: "NaiveLpm4",
    bits: 32,
    code: "new NaiveLpm4()",
    runs: RUNS,
    maxOps: 60,
    make: () => view4(new NaiveLpm4()),
  },
  ...poptries("Poptrie4", [8, 16, 18, 19, 20], (o) => new Poptrie4(o), view4),
  {
    name: "NaiveLpm6",
    bits: 128,
    code: "new NaiveLpm6()",
    runs: RUNS,
    maxOps: 60,
    make: () => view6(new NaiveLpm6()),
  },
  ...poptries("Poptrie6", [8, 16, 18, 20], (o) => new Poptrie6(o), view6),
];

function harness(s: Subject): Harness {
  return new Harness(s.make(), s.code);
}

// ---- a table checked step by step against the oracle ------------------------

/**
 * Drives a table and the oracle side by side, recording every call as code,
 * so that a failure reads as a reproduction that can be pasted into a test.
 */
class Harness {
  readonly t: AnyTable;
  readonly o: LinearLpm;
  readonly bits: Bits;
  /** Every prefix ever deleted (get must answer NO_ROUTE unless re-inserted). */
  readonly deleted: Route[] = [];
  private readonly trace: string[] = [];

  private readonly setup: string;

  constructor(t: AnyTable, setup = "the table") {
    this.t = t;
    this.bits = t.bits;
    this.o = new LinearLpm(t.bits);
    this.setup = setup;
  }

  fail(message: string): never {
    const steps = [`const t = ${this.setup};`, ...this.trace].join("\n");
    throw new Error(`${message}\n--- reproduction (${this.trace.length} operations) ---\n${steps}`);
  }

  private code(prefix: bigint): string {
    return prefixCode(this.bits, prefix);
  }

  insert(prefix: bigint, length: number, nextHop: NextHop): void {
    this.trace.push(
      `t.insert(${this.code(prefix)}, ${length}, ${nextHop}); // ${routeText(this.bits, prefix, length)}`,
    );
    this.t.insert(prefix, length, nextHop);
    this.o.insert(prefix, length, nextHop);
  }

  delete(prefix: bigint, length: number): boolean {
    const want = this.o.get(prefix, length) !== NO_ROUTE;
    this.trace.push(
      `t.delete(${this.code(prefix)}, ${length}); // ${routeText(this.bits, prefix, length)} -> ${want}`,
    );
    const got = this.t.delete(prefix, length);
    if (want) {
      this.o.delete(prefix, length);
      this.deleted.push({ prefix, length, nextHop: NO_ROUTE });
    }
    if (got !== want) this.fail(`delete(${routeText(this.bits, prefix, length)}) returned ${got}`);
    return got;
  }

  load(routes: readonly Route[]): void {
    this.trace.push(
      `t.load(list of ${routes.length} routes); // ${routes
        .map((r) => `${routeText(this.bits, r.prefix, r.length)}->${r.nextHop}`)
        .join(" ")}`,
    );
    this.t.load(routes);
    this.o.clear();
    for (const r of routes) this.o.insert(r.prefix, r.length, r.nextHop);
  }

  /** A load that must throw RangeError (and, by the contract, change nothing). */
  expectLoadFails(routes: readonly Route[] | RouteList, why: string): void {
    const list = Array.isArray(routes)
      ? routeList(this.bits, routes as Route[])
      : (routes as RouteList);
    const w = list.family === 4 ? 1 : 4;
    const shown: string[] = [];
    for (let i = 0; i < list.count; i++) {
      const words = Array.from(
        list.prefixes.subarray(i * w, i * w + w),
        (x) => `0x${x.toString(16)}`,
      );
      shown.push(`[${words.join(", ")}]/${list.lengths[i]}->${list.nextHops[i]}`);
    }
    this.trace.push(`t.load(IPv${list.family} list: ${shown.join(" ")}); // throws: ${why}`);
    let thrown: unknown;
    try {
      this.t.load(list);
    } catch (e) {
      thrown = e;
    }
    if (!(thrown instanceof RangeError))
      this.fail(`load (${why}) did not throw RangeError: ${thrown}`);
  }

  clear(): void {
    this.trace.push("t.clear();");
    this.t.clear();
    this.o.clear();
  }

  /** What the oracle says, with the routes behind the answer, for failure messages. */
  private explain(addr: bigint): string {
    const around = this.o
      .covering(addr)
      .map((r) => `${routeText(this.bits, r.prefix, r.length)}->${r.nextHop}`);
    return `covering routes: ${around.length > 0 ? around.join(", ") : "none"}`;
  }

  expectLookup(addr: bigint): void {
    const want = this.o.lookup(addr);
    const got = this.t.lookup(addr);
    if (got !== want) {
      this.fail(
        `t.lookup(${this.code(addr)}) [${routeText(this.bits, addr, this.bits)}] returned ${got}, ` +
          `expected ${want} (${this.explain(addr)})`,
      );
    }
  }

  expectSize(): void {
    if (this.t.size !== this.o.size) this.fail(`size is ${this.t.size}, expected ${this.o.size}`);
  }

  expectGet(prefix: bigint, length: number): void {
    const want = this.o.get(prefix, length);
    const got = this.t.get(prefix, length);
    if (got !== want) {
      this.fail(`get(${routeText(this.bits, prefix, length)}) returned ${got}, expected ${want}`);
    }
  }

  /** Addresses that tell a prefix apart: its ends, just outside them, and `inside`. */
  edges(prefix: bigint, length: number, inside: bigint[] = []): bigint[] {
    const last = lastOf(this.bits, prefix, length);
    const span = last - prefix + 1n;
    const out = [prefix, last, ...inside.map((x) => prefix + (x % span))];
    if (prefix > 0n) out.push(prefix - 1n);
    if (last < maxAddr(this.bits)) out.push(last + 1n);
    return out;
  }

  /** Checks lookups around one prefix, its get, and the size. */
  checkAround(prefix: bigint, length: number, inside: bigint[] = []): void {
    this.expectSize();
    this.expectGet(prefix, length);
    for (const a of this.edges(prefix, length, inside)) this.expectLookup(a);
  }

  /**
   * The full check: forEach yields exactly the oracle's set, then everything
   * checkLookups checks.
   */
  checkAll(extra: readonly bigint[] = []): void {
    const routes = this.o.entries();
    const seen = this.t.routes().sort(compareRoutes);
    const text = (list: Route[]) =>
      list.map((r) => `${routeText(this.bits, r.prefix, r.length)}->${r.nextHop}`).join(" ");
    if (
      seen.length !== routes.length ||
      seen.some(
        (r, i) =>
          r.prefix !== routes[i].prefix ||
          r.length !== routes[i].length ||
          r.nextHop !== routes[i].nextHop,
      )
    ) {
      this.fail(`forEach yielded [${text(seen)}], expected [${text(routes)}]`);
    }
    this.checkLookups(extra);
  }

  /**
   * Size, get of every route (and NO_ROUTE for every deleted one), lookups
   * at the edges of every route and at `extra`, and lookupBatch agreeing with
   * lookup, leaving the part of `out` past `count` untouched. (forEach walks
   * a whole table, which for some tables costs O(2^directBits): checkAll.)
   */
  checkLookups(extra: readonly bigint[] = []): void {
    this.expectSize();
    const routes = this.o.entries();
    for (const r of routes) this.expectGet(r.prefix, r.length);
    for (const r of this.deleted) this.expectGet(r.prefix, r.length);

    const addrs = [...extra, 0n, maxAddr(this.bits)];
    for (const r of routes) addrs.push(...this.edges(r.prefix, r.length));
    const want = addrs.map((a) => this.o.lookup(a));
    addrs.forEach((a) => {
      this.expectLookup(a);
    });

    // lookupBatch over a buffer holding more addresses than `count`, into a larger `out`.
    const SENTINEL = 0x5a5a;
    const out = new Uint16Array(addrs.length + 3).fill(SENTINEL);
    this.t.lookupBatch(addrs, out, addrs.length, 2);
    for (let i = 0; i < addrs.length; i++) {
      if (out[i] !== want[i]) {
        this.fail(
          `lookupBatch answered ${out[i]} for ${routeText(this.bits, addrs[i], this.bits)} ` +
            `(address ${i} of ${addrs.length}), lookup answers ${want[i]}`,
        );
      }
    }
    for (let i = addrs.length; i < out.length; i++) {
      if (out[i] !== SENTINEL) this.fail(`lookupBatch wrote out[${i}] past count ${addrs.length}`);
    }
    // Default count: as many as `out` holds, even when `addrs` holds more.
    const exact = new Uint16Array(addrs.length);
    this.t.lookupBatch(addrs, exact, undefined, 1);
    for (let i = 0; i < addrs.length; i++) {
      if (exact[i] !== want[i]) this.fail(`lookupBatch without count differs at address ${i}`);
    }
    // count 0 writes nothing.
    const none = new Uint16Array(4).fill(SENTINEL);
    this.t.lookupBatch(addrs, none, 0);
    if (none.some((v) => v !== SENTINEL)) this.fail("lookupBatch with count 0 wrote to out");
  }
}

// ---- random operation sequences ---------------------------------------------

/** Lengths at and around the level boundaries S + 5k of direct widths `widths`, and the ends. */
function boundaryLengths(bits: Bits, widths: readonly number[]): number[] {
  const set = new Set<number>([0, 1, 2, bits - 2, bits - 1, bits]);
  for (const s of widths) {
    for (let l = s; l <= bits + 1; l += 5) for (const d of [-1, 0, 1]) set.add(l + d);
  }
  for (let l = 0; l <= bits; l += 32) for (const d of [-1, 0, 1]) set.add(l + d);
  if (bits === 128) for (let l = 28; l <= 34; l++) set.add(l);
  return [...set].filter((l) => l >= 0 && l <= bits).sort((a, b) => a - b);
}

/** A prefix built from a pool of bases: base `base`, some bits near the end flipped, masked to `length`. */
interface RawPrefix {
  base: number;
  length: number;
  flips: number[];
}

type RawOp =
  | { kind: "insert"; at: RawPrefix; nextHop: number; probe: bigint }
  | { kind: "delete"; at: RawPrefix; probe: bigint }
  | { kind: "deleteExisting"; pick: number; probe: bigint }
  | { kind: "replaceExisting"; pick: number; nextHop: number; probe: bigint }
  | { kind: "reinsertDeleted"; pick: number; nextHop: number; probe: bigint }
  | { kind: "lookup"; at: RawPrefix; probe: bigint };

function arbitraries(bits: Bits, widths: readonly number[] = [8, 16, 18, 19, 20]) {
  const max = maxAddr(bits);
  const length = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...boundaryLengths(bits, widths)) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: bits }) },
  );
  const at: fc.Arbitrary<RawPrefix> = fc.record({
    base: fc.nat({ max: 7 }),
    length,
    flips: fc.array(fc.nat({ max: 24 }), { maxLength: 3, size: "max" }),
  });
  const nextHop = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(0, 1, MAX_NEXT_HOP) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: MAX_NEXT_HOP }) },
  );
  const probe = fc.bigInt({ min: 0n, max });
  const pick = fc.nat();
  const op: fc.Arbitrary<RawOp> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({ kind: fc.constant("insert" as const), at, nextHop, probe }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), at, probe }) },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("deleteExisting" as const), pick, probe }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("replaceExisting" as const),
        pick,
        nextHop,
        probe,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("reinsertDeleted" as const),
        pick,
        nextHop,
        probe,
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("lookup" as const), at, probe }) },
  );
  // Two fixed bases (all zeros, all ones) and up to five random ones.
  const bases = fc.array(fc.bigInt({ min: 0n, max }), { minLength: 1, maxLength: 5, size: "max" });
  const route = fc.record({ at, nextHop });
  return { op, bases, route, nextHop, probe };
}

function basePool(bits: Bits, bases: bigint[]): bigint[] {
  return [0n, maxAddr(bits), ...bases];
}

function derive(bits: Bits, pool: bigint[], raw: RawPrefix): bigint {
  let a = pool[raw.base % pool.length];
  for (const d of raw.flips) {
    const pos = raw.length - 1 - d;
    if (pos >= 0) a ^= 1n << BigInt(bits - 1 - pos);
  }
  return maskTo(bits, a, raw.length);
}

/** Runs one random sequence, checking around each changed prefix, then everything. */
function runOps(h: Harness, pool: bigint[], ops: RawOp[]): void {
  const bits = h.bits;
  for (const op of ops) {
    const existing = h.o.entries();
    switch (op.kind) {
      case "insert": {
        const p = derive(bits, pool, op.at);
        h.insert(p, op.at.length, op.nextHop);
        h.checkAround(p, op.at.length, [op.probe]);
        break;
      }
      case "delete": {
        const p = derive(bits, pool, op.at);
        h.delete(p, op.at.length);
        h.checkAround(p, op.at.length, [op.probe]);
        break;
      }
      case "deleteExisting": {
        if (existing.length === 0) break;
        const r = existing[op.pick % existing.length];
        h.delete(r.prefix, r.length);
        h.checkAround(r.prefix, r.length, [op.probe]);
        break;
      }
      case "replaceExisting": {
        if (existing.length === 0) break;
        const r = existing[op.pick % existing.length];
        h.insert(r.prefix, r.length, op.nextHop);
        h.checkAround(r.prefix, r.length, [op.probe]);
        break;
      }
      case "reinsertDeleted": {
        if (h.deleted.length === 0) break;
        const r = h.deleted[op.pick % h.deleted.length];
        h.insert(r.prefix, r.length, op.nextHop);
        h.checkAround(r.prefix, r.length, [op.probe]);
        break;
      }
      case "lookup": {
        const p = derive(bits, pool, op.at);
        for (const a of h.edges(p, op.at.length, [op.probe])) h.expectLookup(a);
        break;
      }
    }
  }
  h.checkAll(pool);
}

// ---- the suite ----------------------------------------------------------------

describe.each(subjects)("$name", (s) => {
  const bits = s.bits;
  const max = maxAddr(bits);
  const arb = arbitraries(bits, s.directBits === undefined ? undefined : [s.directBits]);
  /** A prefix of `length` bits starting at `addr` (masked). */
  const P = (addr: bigint, length: number) => maskTo(bits, addr, length);
  /** An address from a text-free description: the top word(s) given, the rest zero. */
  const A = (hi: number) => BigInt(hi >>> 0) << BigInt(bits - 32);

  it("starts empty: size 0, NO_ROUTE everywhere, forEach yields nothing", () => {
    const t = s.make();
    expect(t.inner.family).toBe(bits === 32 ? 4 : 6);
    expect(t.size).toBe(0);
    expect(t.routes()).toEqual([]);
    for (const a of [0n, max, A(0xc6120001), max >> 1n, (max >> 1n) + 1n]) {
      expect(t.lookup(a)).toBe(NO_ROUTE);
    }
    expect(t.get(0n, 0)).toBe(NO_ROUTE);
    expect(t.delete(0n, 0)).toBe(false);
    expect(t.delete(max, bits)).toBe(false);
    const bytes = t.inner.bytes();
    expect(Number.isFinite(bytes) && bytes >= 0).toBe(true);
    new Harness(t).checkAll();
  });

  describe("random sequences against the linear oracle", () => {
    it("insert / delete / replace / lookup, interleaved", () => {
      fc.assert(
        fc.property(
          arb.bases,
          fc.array(arb.op, { minLength: 1, maxLength: s.maxOps, size: "max" }),
          (bases, ops) => {
            runOps(harness(s), basePool(bits, bases), ops);
          },
        ),
        { numRuns: s.runs },
      );
    });

    it("after a bulk load, the same operations", () => {
      fc.assert(
        fc.property(
          arb.bases,
          fc.array(arb.route, { maxLength: 40, size: "max" }),
          fc.array(arb.op, { maxLength: s.maxOps, size: "max" }),
          (bases, initial, ops) => {
            const pool = basePool(bits, bases);
            const h = harness(s);
            h.load(distinct(initial.map((r) => toRoute(bits, pool, r))));
            h.checkAll(pool);
            runOps(h, pool, ops);
          },
        ),
        { numRuns: s.runs },
      );
    });

    it("load gives the answers of inserting one by one, and replaces what was there", () => {
      fc.assert(
        fc.property(
          arb.bases,
          fc.array(arb.route, { maxLength: 50, size: "max" }),
          fc.array(arb.route, { maxLength: 50, size: "max" }),
          (bases, first, second) => {
            const pool = basePool(bits, bases);
            const list1 = distinct(first.map((r) => toRoute(bits, pool, r)));
            const list2 = distinct(second.map((r) => toRoute(bits, pool, r)));
            const loaded = harness(s);
            loaded.load(list1);
            loaded.checkAll(pool);
            const inserted = harness(s);
            for (const r of list1) inserted.insert(r.prefix, r.length, r.nextHop);
            inserted.checkLookups(pool);
            loaded.load(list2);
            loaded.checkAll([...pool, ...list1.map((r) => r.prefix)]);
            for (const r of list1) loaded.expectGet(r.prefix, r.length);
          },
        ),
        { numRuns: s.runs },
      );
    });
  });

  describe("edge cases", () => {
    it("default route only", () => {
      const h = harness(s);
      h.insert(0n, 0, 7);
      for (const a of [0n, 1n, max, max - 1n, max >> 1n, (max >> 1n) + 1n, A(0xc6120001)]) {
        expect(h.t.lookup(a)).toBe(7);
      }
      expect(h.t.routes()).toEqual([{ prefix: 0n, length: 0, nextHop: 7 }]);
      h.checkAll();
      expect(h.delete(0n, 0)).toBe(true);
      expect(h.t.lookup(max)).toBe(NO_ROUTE);
      h.checkAll();
    });

    it("default route plus host routes at the first, middle and last address", () => {
      const h = harness(s);
      h.insert(0n, 0, 1);
      const hosts = [0n, max, A(0xc6120001) | 1n, max >> 1n, (max >> 1n) + 1n];
      hosts.forEach((a, i) => {
        h.insert(a, bits, 10 + i);
      });
      hosts.forEach((a, i) => {
        expect(h.t.lookup(a)).toBe(10 + i);
      });
      expect(h.t.lookup(1n)).toBe(1);
      expect(h.t.lookup(max - 1n)).toBe(1);
      h.checkAll();
      for (const a of hosts) {
        h.delete(a, bits);
        h.checkLookups(hosts);
      }
      h.checkAll(hosts);
      expect(h.t.lookup(max)).toBe(1);
    });

    it("withdrawing a covering prefix leaves the gaps between its more-specifics without a route", () => {
      const [cover, mid, host] = bits === 32 ? [8, 24, 32] : [32, 48, 128];
      const rng = new Rng(0xc0ffee + bits);
      const h = harness(s);
      const base = A(0xc6000000); // 198.0.0.0/8, or c600::/32 for IPv6
      const inside = (len: number) => {
        const span = 1n << BigInt(bits - cover);
        return P(base + (randomBig(rng, bits) % span), len);
      };
      h.insert(P(base, cover), cover, 100);
      const mids = new Set<bigint>();
      while (mids.size < 40) mids.add(inside(mid));
      const hostSet = new Set<bigint>();
      const midList = [...mids];
      while (hostSet.size < 40) {
        // Half inside a more-specific, half in the gaps.
        hostSet.add(
          hostSet.size % 2 === 0
            ? midList[rng.below(midList.length)] +
                (randomBig(rng, bits) % (1n << BigInt(bits - mid)))
            : inside(host),
        );
      }
      midList.forEach((p, i) => {
        h.insert(p, mid, 200 + i);
      });
      [...hostSet].forEach((p, i) => {
        h.insert(p, host, 300 + i);
      });
      h.checkAll([P(base, cover)]);
      h.delete(P(base, cover), cover);
      h.checkAll([P(base, cover)]);
      // Explicitly: an address covered by nothing but the withdrawn prefix now misses.
      let gaps = 0;
      for (let i = 0; i < 200; i++) {
        const a = inside(bits);
        if (h.o.covering(a).length === 0) {
          gaps++;
          expect(h.t.lookup(a)).toBe(NO_ROUTE);
        }
      }
      expect(gaps).toBeGreaterThan(0);
      for (const p of midList) expect(h.t.lookup(p)).not.toBe(NO_ROUTE);
      h.insert(P(base, cover), cover, 101);
      h.checkAll();
      for (const p of midList) h.delete(p, mid);
      h.checkAll(midList);
      for (const p of hostSet) h.delete(p, host);
      h.checkAll(midList);
      expect(h.t.size).toBe(1);
    });

    it("deleting an absent prefix returns false and changes nothing", () => {
      const h = harness(s);
      const p = A(0xc6120000);
      h.insert(P(p, 15), 15, 1);
      h.insert(P(p, 24), 24, 2);
      h.insert(p | 0x80n, bits, 3);
      const before = h.t.routes().sort(compareRoutes);
      // Same address at other lengths, a sibling, an unrelated prefix, the default.
      const absent: [bigint, number][] = [
        [P(p, 16), 16],
        [P(p, 23), 23],
        [P(p, 25), 25],
        [P(p, bits), bits],
        [P(A(0xc6130000), 24), 24],
        [P(A(0x0a000000), 8), 8],
        [0n, 0],
      ];
      for (const [q, len] of absent) {
        expect(h.delete(q, len)).toBe(false);
        h.checkLookups([q]);
      }
      expect(h.t.routes().sort(compareRoutes)).toEqual(before);
      // Deleting twice: the second time it is absent.
      expect(h.delete(P(p, 24), 24)).toBe(true);
      expect(h.delete(P(p, 24), 24)).toBe(false);
      h.checkAll();
    });

    it("re-inserting a deleted prefix brings it back", () => {
      const h = harness(s);
      const p = P(A(0xc6120000), 24);
      h.insert(P(p, 16), 16, 1);
      for (let round = 0; round < 3; round++) {
        h.insert(p, 24, 50 + round);
        h.checkAround(p, 24);
        expect(h.t.lookup(p + 5n)).toBe(50 + round);
        h.delete(p, 24);
        h.checkAround(p, 24);
        expect(h.t.lookup(p + 5n)).toBe(1);
      }
      h.insert(p, 24, 9);
      h.checkAll();
    });

    it("replacing a next hop keeps the size and changes every answer under the prefix", () => {
      const h = harness(s);
      const p = P(A(0xc6120000), 20);
      h.insert(p, 20, 1);
      h.insert(P(p, 28) | (1n << BigInt(bits - 24)), 28, 2);
      h.checkAll();
      for (const nh of [5, 5, 0, MAX_NEXT_HOP, 1]) {
        h.insert(p, 20, nh);
        expect(h.t.size).toBe(2);
        expect(h.t.get(p, 20)).toBe(nh);
        expect(h.t.lookup(p)).toBe(nh);
        h.checkLookups();
      }
      h.checkAll();
    });

    it("next hops 0 and MAX_NEXT_HOP are stored and told apart from NO_ROUTE", () => {
      const h = harness(s);
      h.insert(0n, 0, 0);
      h.insert(P(A(0xc6120000), 15), 15, MAX_NEXT_HOP);
      h.insert(max, bits, 0);
      h.insert(0n, bits, MAX_NEXT_HOP);
      expect(h.t.lookup(A(0xc6120000))).toBe(MAX_NEXT_HOP);
      expect(h.t.lookup(A(0x0a000000))).toBe(0);
      expect(h.t.lookup(max)).toBe(0);
      expect(h.t.lookup(0n)).toBe(MAX_NEXT_HOP);
      expect(h.t.get(0n, 0)).toBe(0);
      expect(h.t.get(max, bits)).toBe(0);
      h.checkAll();
      h.delete(0n, 0);
      expect(h.t.lookup(A(0x0a000000))).toBe(NO_ROUTE);
      h.checkAll();
    });

    it("the first and last addresses of the space", () => {
      const h = harness(s);
      const top = 1n << BigInt(bits - 1);
      h.insert(0n, 1, 1); // lower half
      h.insert(top, 1, 2); // upper half
      h.checkAll([top - 1n, top]);
      h.insert(0n, bits, 3);
      h.insert(max, bits, 4);
      h.insert(P(max, bits - 1), bits - 1, 5);
      h.insert(0n, bits - 1, 6);
      expect(h.t.lookup(0n)).toBe(3);
      expect(h.t.lookup(1n)).toBe(6);
      expect(h.t.lookup(2n)).toBe(1);
      expect(h.t.lookup(max)).toBe(4);
      expect(h.t.lookup(max - 1n)).toBe(5);
      expect(h.t.lookup(max - 2n)).toBe(2);
      h.checkAll([top - 1n, top, 2n, max - 2n]);
      for (const r of h.o.entries()) {
        h.delete(r.prefix, r.length);
        h.checkLookups([top - 1n, top, 2n, max - 2n]);
      }
      h.checkAll();
    });

    for (const [label, pick] of [
      ["all zeros", () => 0n],
      ["all ones", () => maxAddr(bits)],
      ["alternating bits", () => maxAddr(bits) / 3n],
      ["a random address", () => randomBig(new Rng(bits * 7919), bits)],
    ] as const) {
      it(`every prefix length 0..${bits} at one address (${label}), nested, deleted in random order`, () => {
        const addr = pick();
        const t = s.make();
        const rng = new Rng(Number(addr & 0xffffn) + bits);
        const present = new Array<boolean>(bits + 1).fill(false);
        // Probe l: agrees with addr on exactly its first l bits (l < bits), or addr itself.
        const probes = Array.from({ length: bits + 1 }, (_, l) =>
          l === bits ? addr : addr ^ (1n << BigInt(bits - 1 - l)),
        );
        const check = (step: string, changed: number) => {
          expect(t.size, step).toBe(present.filter(Boolean).length);
          for (let l = 0; l <= bits; l++) {
            let want = NO_ROUTE;
            for (let k = l; k >= 0; k--) {
              if (present[k]) {
                want = 1000 + k;
                break;
              }
            }
            const got = t.lookup(probes[l]);
            if (got !== want) {
              expect.fail(
                `${step}: lookup of the address matching ${l} bits: ${got}, expected ${want}`,
              );
            }
          }
          const got = t.get(P(addr, changed), changed);
          const want = present[changed] ? 1000 + changed : NO_ROUTE;
          if (got !== want)
            expect.fail(`${step}: get /${changed} answered ${got}, expected ${want}`);
        };
        // Insert in random order, checking each time.
        for (const l of rng.shuffle(Array.from({ length: bits + 1 }, (_, i) => i))) {
          t.insert(P(addr, l), l, 1000 + l);
          present[l] = true;
          check(`after insert /${l}`, l);
        }
        const h = new Harness(t);
        for (let l = 0; l <= bits; l++) h.o.insert(P(addr, l), l, 1000 + l);
        h.checkAll(probes);
        for (const l of rng.shuffle(Array.from({ length: bits + 1 }, (_, i) => i))) {
          expect(t.delete(P(addr, l), l)).toBe(true);
          present[l] = false;
          check(`after delete /${l}`, l);
        }
        expect(t.size).toBe(0);
      });
    }

    // Under one /L, every prefix of lengths L..L+6 (or to the end of the address): when L is a
    // level boundary, a trie node holding all 62 route positions of its stride and a child in
    // all 32 slots.
    it.each(denseDepths(bits, s.directBits ?? 20))(
      "a full subtree of depth up to 6 under a /%s, filled and emptied in random order",
      (L) => {
        const rng = new Rng(L * 7 + bits);
        const base = P(randomBig(rng, bits), L);
        const all: [bigint, number][] = [];
        for (let l = L; l <= Math.min(bits, L + 6); l++) {
          for (let v = 0n; v < 1n << BigInt(l - L); v++) {
            all.push([base | (v << BigInt(bits - l)), l]);
          }
        }
        for (const few of [false, true]) {
          // Distinct next hops, then only three (long runs of equal leaves to compress).
          const h = harness(s);
          for (const [p, l] of rng.shuffle(all.slice())) {
            h.insert(p, l, few ? 1 + rng.below(3) : rng.below(MAX_NEXT_HOP + 1));
          }
          h.checkAll(base > 0n ? [base - 1n, base] : [base]);
          for (const [p, l] of rng.shuffle(all.slice())) {
            h.delete(p, l);
            h.checkAround(p, l, [randomBig(rng, bits)]);
          }
          h.checkAll([base]);
        }
      },
    );

    it("clear empties the table, which stays usable", () => {
      const h = harness(s);
      const p = A(0xc6120000);
      h.insert(0n, 0, 1);
      for (let l = 8; l <= bits; l += 3) h.insert(P(p, l), l, l);
      h.checkAll();
      h.clear();
      expect(h.t.size).toBe(0);
      expect(h.t.routes()).toEqual([]);
      expect(h.t.lookup(p)).toBe(NO_ROUTE);
      h.checkAll([p]);
      h.insert(P(p, 24), 24, 3);
      h.checkAll([p]);
      h.clear();
      h.clear();
      h.checkAll([p]);
    });

    it("load replaces previous content; loading an empty list empties the table", () => {
      const h = harness(s);
      const p = A(0xc6120000);
      h.insert(0n, 0, 1);
      h.insert(P(p, 24), 24, 2);
      h.load([
        { prefix: P(p, 16), length: 16, nextHop: 3 },
        { prefix: P(p | 0x100n, bits), length: bits, nextHop: 4 },
      ]);
      expect(h.t.lookup(A(0x0a000000))).toBe(NO_ROUTE);
      expect(h.t.get(P(p, 24), 24)).toBe(NO_ROUTE);
      h.checkAll([p, A(0x0a000000)]);
      h.insert(P(p, 24), 24, 5);
      h.checkAll([p]);
      h.load([]);
      expect(h.t.size).toBe(0);
      h.checkAll([p]);
    });

    it("load reads only `count` routes: a RouteListBuilder with spare capacity adds nothing", () => {
      const b = new RouteListBuilder(bits === 32 ? 4 : 6, 16);
      b.push(toWords(bits, P(A(0xc6120000), 15)), 15, 7);
      const t = s.make();
      t.load(b); // the builder is a RouteList whose arrays are longer than its count
      expect(t.size).toBe(1);
      expect(t.lookup(A(0x0a000000))).toBe(NO_ROUTE); // unused slots would read as 0/0 -> 0
      // A hand-made list with other routes past `count`.
      const full = routeList(bits, [
        { prefix: P(A(0xc6120000), 24), length: 24, nextHop: 1 },
        { prefix: 0n, length: 0, nextHop: 2 },
        { prefix: max, length: bits, nextHop: 3 },
      ]);
      t.load({ ...full, count: 1 });
      const h = new Harness(t);
      h.o.insert(P(A(0xc6120000), 24), 24, 1);
      h.checkAll([0n, max]);
    });

    it("load with a repeated prefix keeps the last next hop, as inserting one by one does", () => {
      const p = P(A(0xc6120000), 24);
      const h = harness(s);
      h.load([
        { prefix: p, length: 24, nextHop: 1 },
        { prefix: 0n, length: 0, nextHop: 9 },
        { prefix: p, length: 24, nextHop: 2 },
        { prefix: 0n, length: 0, nextHop: 8 },
      ]);
      expect(h.t.size).toBe(2);
      expect(h.t.lookup(p)).toBe(2);
      expect(h.t.lookup(max)).toBe(8);
      h.checkAll();
    });

    it("a load that fails on a bad route throws RangeError and leaves the table as it was", () => {
      const h = harness(s);
      const p = A(0xc6120000);
      h.insert(P(p, 16), 16, 1);
      h.insert(P(p, 28), 28, 2);
      h.expectLoadFails(
        [
          { prefix: P(p, 24), length: 24, nextHop: 3 },
          { prefix: p | 1n, length: 24, nextHop: 4 },
        ],
        "host bits in the second route",
      );
      h.checkAll([p, p | 1n]);
      const badHop = routeList(bits, [{ prefix: P(p, 24), length: 24, nextHop: 3 }]);
      badHop.nextHops[0] = NO_ROUTE;
      h.expectLoadFails(badHop, "next hop 0xffff");
      h.checkAll([p]);
      const badLength = routeList(bits, [{ prefix: P(p, 24), length: 24, nextHop: 3 }]);
      badLength.lengths[0] = bits + 1;
      h.expectLoadFails(badLength, `length ${bits + 1}`);
      h.checkAll([p]);
    });

    it("load of the other family's route list throws RangeError and changes nothing", () => {
      const h = harness(s);
      h.insert(0n, 0, 1);
      const other = routeList(bits === 32 ? 128 : 32, [{ prefix: 0n, length: 0, nextHop: 2 }]);
      h.expectLoadFails(other, "the other family");
      h.checkAll();
    });
  });

  describe("misuse: RangeError, and the table is unchanged", () => {
    /** A table with a few routes, and a check that it still holds exactly them. */
    const populated = () => {
      const h = harness(s);
      h.insert(0n, 0, 1);
      h.insert(P(A(0xc6120000), 15), 15, 2);
      h.insert(P(A(0xc6120000), 24), 24, 3);
      h.insert(A(0xc6120001) | 1n, bits, 4);
      return h;
    };

    if (bits === 32) {
      const raw = (h: Harness) => h.t.inner as Lpm4;
      const badPrefixes: [string, number, number][] = [
        ["host bits past /8", 0x0a000001, 8],
        ["host bits past /0", 1, 0],
        ["host bits past /31", 0xc6120001, 31],
        ["length -1", 0, -1],
        ["length 33", 0, 33],
        ["length 1.5", 0x80000000, 1.5],
        ["length NaN", 0, Number.NaN],
        ["prefix -1", -1, 32],
        ["prefix 2^32", 2 ** 32, 32],
        ["prefix 1.5", 1.5, 32],
        ["prefix NaN", Number.NaN, 32],
      ];
      it.each(badPrefixes)("prefix %s: insert, delete and get throw", (_, prefix, length) => {
        const h = populated();
        expect(() => raw(h).insert(prefix, length, 5)).toThrow(RangeError);
        expect(() => raw(h).delete(prefix, length)).toThrow(RangeError);
        expect(() => raw(h).get(prefix, length)).toThrow(RangeError);
        h.checkAll([0x0a000001n, 0xc6120001n]);
      });
    } else {
      const raw = (h: Harness) => h.t.inner as Lpm6;
      const w = [0x20010db8, 0, 0, 0];
      const badPrefixes: [string, ArrayLike<number>, number][] = [
        ["host bits past /0", [0, 0, 0, 1], 0],
        ["host bits past /32 in word 1", [0x20010db8, 1, 0, 0], 32],
        ["host bits past /48 in word 1", [0x20010db8, 0x8000, 0, 0], 48],
        ["host bits past /64 in word 3", [0x20010db8, 0, 0, 0x80000000], 64],
        ["host bits past /127", [0, 0, 0, 1], 127],
        ["length -1", w, -1],
        ["length 129", w, 129],
        ["length 64.5", w, 64.5],
        ["length NaN", w, Number.NaN],
        ["no words", [], 0],
        ["three words", [0x20010db8, 0, 0], 32],
        ["three-word typed array", new Uint32Array([0x20010db8, 0, 0]), 32],
        ["word 2^32", [2 ** 32, 0, 0, 0], 32],
        ["word -1", [-1, 0, 0, 0], 32],
        ["word 1.5", [0, 0, 0, 1.5], 128],
        ["word NaN", [0, Number.NaN, 0, 0], 128],
      ];
      it.each(badPrefixes)("prefix %s: insert, delete and get throw", (_, prefix, length) => {
        const h = populated();
        expect(() => raw(h).insert(prefix, length, 5)).toThrow(RangeError);
        expect(() => raw(h).delete(prefix, length)).toThrow(RangeError);
        expect(() => raw(h).get(prefix, length)).toThrow(RangeError);
        h.checkAll([0x20010db8n << 96n]);
      });
    }

    it.each([-1, NO_ROUTE, 0x10000, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
      "next hop %s is refused, also over an existing prefix",
      (nh) => {
        const h = populated();
        const p = P(A(0xc6120000), 24);
        expect(() => h.t.insert(p, 24, nh)).toThrow(RangeError);
        expect(() => h.t.insert(P(A(0x0a000000), 8), 8, nh)).toThrow(RangeError);
        expect(() => h.t.insert(P(A(0x0a000000), bits), bits, nh)).toThrow(RangeError);
        h.checkAll([A(0x0a000000)]);
      },
    );
  });

  if (bits === 128) {
    it("forEach hands out fresh copies; insert does not keep the caller's array", () => {
      const t = s.make().inner as Lpm6;
      const words = new Uint32Array([0x20010db8, 0x00010000, 0, 0]);
      t.insert(words, 48, 1);
      words[1] = 0x00020000; // the caller reuses its array
      t.insert(words, 48, 2);
      words.fill(0xffffffff);
      const handed: ArrayLike<number>[] = [];
      t.forEach((prefix) => {
        handed.push(prefix);
      });
      const text = handed.map((p) => Array.from(p).slice(0, 4).join(":")).sort();
      expect(text).toEqual(
        [[0x20010db8, 0x00010000, 0, 0].join(":"), [0x20010db8, 0x00020000, 0, 0].join(":")].sort(),
      );
      expect(new Set(handed).size).toBe(2);
      // Scribbling over what forEach handed out must not reach the table.
      for (const p of handed) if (p instanceof Uint32Array || Array.isArray(p)) p.fill(0);
      expect(t.lookup([0x20010db8, 0x00010000, 0, 1])).toBe(1);
      expect(t.lookup([0x20010db8, 0x00020000, 0, 1])).toBe(2);
      expect(t.get([0x20010db8, 0x00010000, 0, 0], 48)).toBe(1);
    });

    it("lookup reads four words from `offset`, and lookupBatch four words an address", () => {
      const t = s.make().inner as Lpm6;
      t.insert([0x20010db8, 0, 0, 0], 32, 1);
      t.insert([0x20010db8, 0, 0, 0x80000000], 97, 2);
      const buf = new Uint32Array([0xffffffff, 0x20010db8, 0, 0, 0x80000001, 0x20010db8, 7, 7, 7]);
      expect(t.lookup(buf, 1)).toBe(2);
      expect(t.lookup(buf, 5)).toBe(1);
      expect(t.lookup(buf, 0)).toBe(NO_ROUTE);
      const out = new Uint16Array(2);
      t.lookupBatch(buf.subarray(1, 9), out);
      expect(Array.from(out)).toEqual([2, 1]);
    });
  }
});

// Every alignment of the levels to the address (S mod 5) at a cheap width.
describe.each([
  {
    family: "Poptrie4",
    bits: 32 as Bits,
    make: (d: number) => view4(new Poptrie4({ directBits: d })),
  },
  {
    family: "Poptrie6",
    bits: 128 as Bits,
    make: (d: number) => view6(new Poptrie6({ directBits: d })),
  },
])("$family at a random directBits in 8..14", ({ family, bits, make }) => {
  it("insert / delete / replace / lookup, interleaved", () => {
    const arb = arbitraries(bits, [8, 9, 10, 11, 12, 13, 14]);
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 14 }),
        arb.bases,
        fc.array(arb.op, { minLength: 1, maxLength: 80, size: "max" }),
        (directBits, bases, ops) => {
          const h = new Harness(make(directBits), `new ${family}({ directBits: ${directBits} })`);
          runOps(h, basePool(bits, bases), ops);
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });
});

describe("Poptrie options", () => {
  it.each([7, 25, 0, -1, 8.5, Number.NaN])("directBits %s is refused with RangeError", (d) => {
    expect(() => new Poptrie4({ directBits: d })).toThrow(RangeError);
    expect(() => new Poptrie6({ directBits: d })).toThrow(RangeError);
  });
});

// ---- helpers for the suite ------------------------------------------------------

function toRoute(
  bits: Bits,
  pool: bigint[],
  r: { at: RawPrefix; nextHop: number },
): { prefix: bigint; length: number; nextHop: number } {
  return { prefix: derive(bits, pool, r.at), length: r.at.length, nextHop: r.nextHop };
}

/** Keeps the first route of each prefix (lists given to load hold no duplicates, except where a test says). */
function distinct(routes: Route[]): Route[] {
  const seen = new Set<string>();
  return routes.filter((r) => {
    const key = `${r.prefix}/${r.length}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Depths for the full-subtree test: the direct width S, the level that
 * straddles the first 32-bit word boundary, the deepest level (whose
 * stride runs past the end of the address), and S + 2 (no boundary).
 */
function denseDepths(bits: Bits, S: number): number[] {
  const levels: number[] = [];
  for (let d = S; d < bits; d += 5) levels.push(d);
  const straddle = levels.find((d) => d < 32 && d + 5 > 32) ?? levels.find((d) => d + 6 > 32);
  const picks = [S, straddle, levels[levels.length - 1], S + 2];
  return [...new Set(picks.filter((d): d is number => d !== undefined && d < bits))];
}

function randomBig(rng: Rng, bits: Bits): bigint {
  let x = 0n;
  for (let i = 0; i < bits / 32; i++) x = (x << 32n) | BigInt(rng.u32());
  return x;
}

// ---- large tables shaped like the real ones -----------------------------------------

/** IPv4 prefix lengths in a full BGP table (per cent). */
const LENGTHS4: readonly (readonly [number | "short" | "long", number])[] = [
  [24, 59.6],
  [22, 12],
  [23, 10.7],
  [21, 5.6],
  [20, 4.7],
  [19, 2.8],
  [18, 1.5],
  [16, 1.5],
  [17, 0.9],
  ["short", 0.5],
  ["long", 0.1],
];

/** IPv6 prefix lengths in a full BGP table, roughly (per cent). */
const LENGTHS6: readonly (readonly [number | "short" | "long", number])[] = [
  [48, 45],
  [32, 12],
  [44, 8],
  [40, 6],
  [29, 4],
  [36, 3],
  [56, 3],
  [46, 2],
  [47, 2],
  [64, 2],
  [42, 1.5],
  [45, 1.5],
  [28, 1],
  [30, 1],
  [31, 1],
  [33, 1],
  [34, 1],
  [35, 1],
  [128, 1],
  ["short", 1],
  ["long", 1],
];

/** The IPv6 lengths past /48 that real tables hold a few of. */
const LONG6 = [49, 50, 52, 56, 57, 60, 62, 63, 96, 112, 124, 126, 127];

interface LargeCase {
  readonly bits: Bits;
  readonly routes: Route[];
  readonly list: RouteList;
  /** Lookup addresses, packed (1 or 4 words each), and the reference's answers. */
  readonly addrs: Uint32Array;
  readonly expected: Uint16Array;
  readonly updates: Update[];
  readonly addrsAfter: Uint32Array;
  readonly expectedAfter: Uint16Array;
  /** Every route after the updates, as `prefix/length->nextHop` sorted text. */
  readonly finalRoutes: string[];
  readonly final: Route[];
}

interface Update {
  readonly kind: "insert" | "delete";
  readonly words: Uint32Array;
  readonly length: number;
  readonly nextHop: number;
  /** For deletes: what the reference answered. */
  readonly removed: boolean;
}

function viewOf(t: Lpm4 | Lpm6): AnyTable {
  return t.family === 4 ? view4(t) : view6(t);
}

function naiveOf(bits: Bits): Lpm4 | Lpm6 {
  return bits === 32 ? new NaiveLpm4() : new NaiveLpm6();
}

function rawInsert(t: Lpm4 | Lpm6, words: Uint32Array, length: number, nh: number): void {
  if (t.family === 4) t.insert(words[0], length, nh);
  else t.insert(words, length, nh);
}

function rawDelete(t: Lpm4 | Lpm6, words: Uint32Array, length: number): boolean {
  return t.family === 4 ? t.delete(words[0], length) : t.delete(words, length);
}

function rawGet(t: Lpm4 | Lpm6, words: Uint32Array, length: number): number {
  return t.family === 4 ? t.get(words[0], length) : t.get(words, length);
}

function rawLookup(t: Lpm4 | Lpm6, addrs: Uint32Array, i: number): number {
  return t.family === 4 ? t.lookup(addrs[i]) : t.lookup(addrs, i * 4);
}

function rawRoutes(t: Lpm4 | Lpm6): string[] {
  const out: string[] = [];
  const add = (text: string) => {
    out.push(text);
  };
  if (t.family === 4) {
    t.forEach((p, len, nh) => {
      add(`${p >>> 0}/${len}->${nh}`);
    });
  } else {
    t.forEach((p, len, nh) => {
      add(`${Array.from(p).slice(0, 4).join(":")}/${len}->${nh}`);
    });
  }
  return out.sort();
}

function pack(bits: Bits, addrs: readonly bigint[]): Uint32Array {
  const w = bits / 32;
  const out = new Uint32Array(addrs.length * w);
  addrs.forEach((a, i) => {
    out.set(toWords(bits, a), i * w);
  });
  return out;
}

/** Routes with the length mix and nesting of a real table, each prefix new. */
class RouteGen {
  readonly bits: Bits;
  readonly rng: Rng;
  readonly list: Route[] = [];
  private readonly live = new Set<string>();

  constructor(bits: Bits, seed: number) {
    this.bits = bits;
    this.rng = new Rng(seed);
  }

  private randomLength(): number {
    const l = this.rng.weighted(this.bits === 32 ? LENGTHS4 : LENGTHS6);
    if (l === "short") return this.bits === 32 ? 8 + this.rng.below(8) : 16 + this.rng.below(12);
    if (l === "long") {
      return this.bits === 32 ? 25 + this.rng.below(8) : LONG6[this.rng.below(LONG6.length)];
    }
    return l;
  }

  private randomRoot(): bigint {
    return this.bits === 32
      ? BigInt(0x01000000 + this.rng.below(0xdf000000)) // 1.0.0.0 .. 223.255.255.255
      : (1n << 125n) | (randomBig(this.rng, 128) >> 3n); // 2000::/3
  }

  /** A prefix not live yet (not added to the live set). */
  fresh(): Route {
    const { bits, rng, list } = this;
    for (;;) {
      const length = this.randomLength();
      let addr = this.randomRoot();
      // Real tables nest: many prefixes sit inside a shorter one already there.
      if (list.length > 0 && rng.chance(bits === 32 ? 0.4 : 0.6)) {
        const parent = list[rng.below(list.length)];
        if (parent.length < length) {
          const span = 1n << BigInt(bits - parent.length);
          addr = parent.prefix + (randomBig(rng, bits) % span);
        }
      }
      const prefix = maskTo(bits, addr, length);
      if (this.live.has(`${prefix}/${length}`)) continue;
      return { prefix, length, nextHop: rng.below(MAX_NEXT_HOP + 1) };
    }
  }

  /** A new prefix, added to the list and the live set. */
  add(): Route {
    const r = this.fresh();
    this.live.add(`${r.prefix}/${r.length}`);
    this.list.push(r);
    return r;
  }

  /** Marks a prefix live without listing it. */
  mark(r: Route): void {
    this.live.add(`${r.prefix}/${r.length}`);
  }

  forget(r: Route): void {
    this.live.delete(`${r.prefix}/${r.length}`);
  }

  /** Lookup addresses: 40% anywhere, the rest at the edges of and inside `routes`. */
  targeted(routes: readonly Route[], n: number, out: bigint[] = []): bigint[] {
    const { bits, rng } = this;
    const max = maxAddr(bits);
    for (let i = 0; i < n; i++) {
      if (rng.chance(0.4)) {
        out.push(randomBig(rng, bits));
        continue;
      }
      const r = routes[rng.below(routes.length)];
      const last = lastOf(bits, r.prefix, r.length);
      switch (rng.below(5)) {
        case 0:
          out.push(r.prefix);
          break;
        case 1:
          out.push(last);
          break;
        case 2:
          out.push(r.prefix === 0n ? max : r.prefix - 1n);
          break;
        case 3:
          out.push(last === max ? 0n : last + 1n);
          break;
        default:
          out.push(r.prefix + (randomBig(rng, bits) % (last - r.prefix + 1n)));
      }
    }
    return out;
  }
}

function largeCase(bits: Bits, count: number, seed: number): LargeCase {
  const gen = new RouteGen(bits, seed);
  const rng = gen.rng;
  const list = gen.list;
  while (list.length < count) gen.add();
  const newPrefix = () => gen.fresh();
  const targeted = (routes: readonly Route[], n: number, out: bigint[]) =>
    gen.targeted(routes, n, out);

  // The reference, built one route at a time (so the subjects' load is held against inserts).
  const ref = naiveOf(bits);
  for (const r of list) rawInsert(ref, toWords(bits, r.prefix), r.length, r.nextHop);
  const addrs = pack(bits, targeted(list, 200_000, []));
  const expected = new Uint16Array(200_000);
  ref.lookupBatch(addrs, expected);

  // 20,000 updates: deletes of present and absent prefixes, inserts, replaced next hops.
  const updates: Update[] = [];
  const changed: Route[] = [];
  const current = list.slice();
  for (let i = 0; i < 20_000; i++) {
    const what = rng.weighted([
      ["delete", 45],
      ["absent", 10],
      ["insert", 35],
      ["replace", 10],
    ] as const);
    if (what === "delete" || what === "replace") {
      const j = rng.below(current.length);
      const r = current[j];
      if (what === "delete") {
        current[j] = current[current.length - 1];
        current.pop();
        gen.forget(r);
        updates.push({
          kind: "delete",
          words: toWords(bits, r.prefix),
          length: r.length,
          nextHop: 0,
          removed: true,
        });
      } else {
        const nextHop = rng.below(MAX_NEXT_HOP + 1);
        current[j] = { ...r, nextHop };
        updates.push({
          kind: "insert",
          words: toWords(bits, r.prefix),
          length: r.length,
          nextHop,
          removed: false,
        });
      }
      changed.push(r);
    } else {
      const r = newPrefix();
      if (what === "absent") {
        updates.push({
          kind: "delete",
          words: toWords(bits, r.prefix),
          length: r.length,
          nextHop: 0,
          removed: false,
        });
      } else {
        current.push(r);
        gen.mark(r);
        updates.push({
          kind: "insert",
          words: toWords(bits, r.prefix),
          length: r.length,
          nextHop: r.nextHop,
          removed: false,
        });
      }
      changed.push(r);
    }
  }
  for (const u of updates) {
    if (u.kind === "insert") rawInsert(ref, u.words, u.length, u.nextHop);
    else if (rawDelete(ref, u.words, u.length) !== u.removed)
      throw new Error("reference disagrees");
  }
  const after = targeted(current, 50_000, []);
  targeted(changed, 50_000, after);
  const addrsAfter = pack(bits, after);
  const expectedAfter = new Uint16Array(after.length);
  ref.lookupBatch(addrsAfter, expectedAfter);
  return {
    bits,
    routes: list,
    list: routeList(bits, list),
    addrs,
    expected,
    updates,
    addrsAfter,
    expectedAfter,
    finalRoutes: rawRoutes(ref),
    final: current,
  };
}

const largeCases = new Map<Bits, LargeCase>();
function large(bits: Bits): LargeCase {
  let c = largeCases.get(bits);
  if (!c) {
    c = bits === 32 ? largeCase(32, 100_000, 0x5eed4) : largeCase(128, 20_000, 0x5eed6);
    largeCases.set(bits, c);
  }
  return c;
}

/** The first address where `got` differs from `want`, or -1. */
function firstMismatch(got: Uint16Array, want: Uint16Array): number {
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return i;
  return -1;
}

/**
 * On a wrong answer after a bulk load, shrinks the route list to a smallest
 * one that still gives a wrong answer at that address, as a reproduction.
 */
function reproduceLoad(s: Subject, c: LargeCase, addrIndex: number): string {
  const w = c.bits / 32;
  const addr = c.addrs.subarray(addrIndex * w, addrIndex * w + w);
  const fails = (routes: readonly Route[]) => {
    const t = s.make().inner;
    t.load(routeList(c.bits, routes));
    const ref = naiveOf(c.bits);
    ref.load(routeList(c.bits, routes));
    return rawLookup(t, addr, 0) !== rawLookup(ref, addr, 0);
  };
  let routes: readonly Route[] = c.routes;
  const a = fromWords(c.bits, addr);
  const near = routes.filter((r) => covers(c.bits, r.prefix, r.length, a));
  if (near.length > 0 && fails(near)) routes = near;
  const small = minimize(routes, fails);
  const t = s.make().inner;
  t.load(routeList(c.bits, small));
  const ref = naiveOf(c.bits);
  ref.load(routeList(c.bits, small));
  return [
    `minimal reproduction: t.load(${small.length} routes), then t.lookup(${prefixCode(c.bits, a)})`,
    ...small.map(
      (r) =>
        `  ${routeText(c.bits, r.prefix, r.length)} -> ${r.nextHop}   (${prefixCode(c.bits, r.prefix)}, ${r.length})`,
    ),
    `answers ${rawLookup(t, addr, 0)}, expected ${rawLookup(ref, addr, 0)}`,
  ].join("\n");
}

describe.each(subjects)("$name on a large table shaped like a real one", (s) => {
  const count = s.bits === 32 ? "100,000 IPv4" : "20,000 IPv6";
  const reference = s.name.startsWith("Naive");

  // The reference itself is held against the linear oracle, on a sample (a scan is slow).
  it.runIf(reference)(
    `${count} prefixes by load, then 20,000 updates: sampled lookups against the linear oracle`,
    () => {
      const c = large(s.bits);
      const w = c.bits / 32;
      const t = s.make().inner;
      t.load(c.list);
      expect(t.size).toBe(c.routes.length);
      const sample = (addrs: Uint32Array, o: LinearLpm, n: number) => {
        const total = addrs.length / w;
        for (let k = 0; k < n; k++) {
          const i = Math.floor((k * total) / n);
          const a = fromWords(c.bits, addrs, i * w);
          const want = o.lookup(a);
          const got = rawLookup(t, addrs, i);
          if (got !== want) {
            expect.fail(
              `lookup(${routeText(c.bits, a, c.bits)}) answered ${got}, expected ${want}`,
            );
          }
        }
      };
      sample(c.addrs, LinearLpm.from(c.bits, c.routes), c.bits === 32 ? 100 : 250);
      for (const u of c.updates) {
        if (u.kind === "insert") rawInsert(t, u.words, u.length, u.nextHop);
        else expect(rawDelete(t, u.words, u.length)).toBe(u.removed);
      }
      expect(t.size).toBe(c.final.length);
      sample(c.addrsAfter, LinearLpm.from(c.bits, c.final), c.bits === 32 ? 100 : 250);
      expect(rawRoutes(t)).toEqual(c.finalRoutes);
    },
  );

  it.skipIf(reference)(
    `${count} prefixes by load, 200,000 lookups; then 20,000 updates and 100,000 more`,
    () => {
      const c = large(s.bits);
      const w = c.bits / 32;
      const t = s.make().inner;
      t.load(c.list);
      expect(t.size).toBe(c.routes.length);
      const out = new Uint16Array(c.expected.length);
      t.lookupBatch(c.addrs, out);
      let bad = firstMismatch(out, c.expected);
      if (bad >= 0) {
        expect.fail(
          `after load: lookupBatch answered ${out[bad]} at address ${bad}, expected ${c.expected[bad]}\n${reproduceLoad(s, c, bad)}`,
        );
      }
      for (let i = 0; i < 20_000; i++) {
        const got = rawLookup(t, c.addrs, i);
        if (got !== c.expected[i]) {
          expect.fail(
            `after load: lookup of address ${i} answered ${got}, expected ${c.expected[i]}\n${reproduceLoad(s, c, i)}`,
          );
        }
      }

      c.updates.forEach((u, i) => {
        if (u.kind === "insert") {
          rawInsert(t, u.words, u.length, u.nextHop);
        } else {
          const removed = rawDelete(t, u.words, u.length);
          if (removed !== u.removed) {
            expect.fail(
              `update ${i}: delete(${routeText(c.bits, fromWords(c.bits, u.words), u.length)}) returned ${removed}`,
            );
          }
        }
      });
      expect(t.size).toBe(c.finalRoutes.length);
      const after = new Uint16Array(c.expectedAfter.length);
      t.lookupBatch(c.addrsAfter, after);
      bad = firstMismatch(after, c.expectedAfter);
      if (bad >= 0) {
        // Does a fresh load of the same routes answer right? Then the update path is at fault.
        const fresh = s.make();
        fresh.load(viewOf(t).routes());
        const addr = c.addrsAfter.subarray(bad * w, bad * w + w);
        expect.fail(
          `after 20,000 updates: lookupBatch answered ${after[bad]} at address ${bad} ` +
            `(${routeText(c.bits, fromWords(c.bits, addr), c.bits)}), expected ${c.expectedAfter[bad]}; ` +
            `a fresh load of the same routes answers ${rawLookup(fresh.inner, addr, 0)}`,
        );
      }
      for (let i = 0; i < 20_000; i++) {
        const got = rawLookup(t, c.addrsAfter, i);
        if (got !== c.expectedAfter[i]) {
          expect.fail(
            `after updates: lookup of address ${i} answered ${got}, lookupBatch ${after[i]}`,
          );
        }
      }
      expect(rawRoutes(t)).toEqual(c.finalRoutes);
    },
  );
});

// ---- growing and shrinking one route at a time -----------------------------------------

/**
 * A table filled one insert at a time past every power of two (a table that
 * sizes itself to its content changes shape at some of them), then emptied in
 * random order, with the reference's answers at 2^k and 2^k + 1 routes, and
 * at 2^k - 1 .. 2^k + 3 around 4096, 32768 and 65536.
 */
interface GrowthCase {
  readonly bits: Bits;
  readonly routes: Route[];
  readonly words: Uint32Array[];
  readonly checkpoints: number[];
  readonly addrs: Uint32Array;
  /** Answers with the first n routes inserted. */
  readonly up: Map<number, Uint16Array>;
  /** Route indices in the order they are deleted. */
  readonly deleteOrder: number[];
  /** Answers with n routes left. */
  readonly down: Map<number, Uint16Array>;
}

function growthCase(bits: Bits, total: number, probes: number, seed: number): GrowthCase {
  const gen = new RouteGen(bits, seed);
  while (gen.list.length < total) gen.add();
  const routes = gen.list;
  const words = routes.map((r) => toWords(bits, r.prefix));
  // Every power of two and one past it; around the sizes tables are likeliest to change shape, more.
  const set = new Set<number>([total]);
  for (let p = 2; p <= total; p *= 2) {
    const around = p === 4096 || p === 32768 || p === 65536 ? [-1, 0, 1, 2, 3] : [0, 1];
    for (const d of around) if (p + d <= total) set.add(p + d);
  }
  const checkpoints = [...set].sort((a, b) => a - b);
  const addrs = pack(bits, gen.targeted(routes, probes));
  const answers = (t: Lpm4 | Lpm6) => {
    const out = new Uint16Array(probes);
    t.lookupBatch(addrs, out);
    return out;
  };
  const ref = naiveOf(bits);
  const up = new Map<number, Uint16Array>();
  let n = 0;
  for (const cp of checkpoints) {
    for (; n < cp; n++) rawInsert(ref, words[n], routes[n].length, routes[n].nextHop);
    up.set(cp, answers(ref));
  }
  const deleteOrder = gen.rng.shuffle(Array.from(routes, (_, i) => i));
  const down = new Map<number, Uint16Array>();
  let left = total;
  for (const cp of [...checkpoints].reverse()) {
    for (; left > cp; left--) {
      const i = deleteOrder[total - left];
      rawDelete(ref, words[i], routes[i].length);
    }
    down.set(cp, answers(ref));
  }
  return { bits, routes, words, checkpoints, addrs, up, deleteOrder, down };
}

const growthCases = new Map<Bits, GrowthCase>();
function growth(bits: Bits): GrowthCase {
  let g = growthCases.get(bits);
  if (!g) {
    g = bits === 32 ? growthCase(32, 70_000, 2000, 0x9e0) : growthCase(128, 34_000, 1000, 0x9e6);
    growthCases.set(bits, g);
  }
  return g;
}

// The naive reference is the yardstick here, so it is left out (the linear oracle checks it above).
describe.each(subjects.filter((s) => !s.name.startsWith("Naive")))(
  "$name growing and shrinking",
  (s) => {
    const total = s.bits === 32 ? "70,000" : "34,000";

    /** Fails with where the table and the reference part, if they do. */
    const expectAnswers = (t: Lpm4 | Lpm6, g: GrowthCase, want: Uint16Array, when: string) => {
      const got = new Uint16Array(want.length);
      t.lookupBatch(g.addrs, got);
      const bad = firstMismatch(got, want);
      if (bad >= 0) {
        const w = g.bits / 32;
        const a = fromWords(g.bits, g.addrs, bad * w);
        const around = g.routes
          .map((r, i) => ({ r, i }))
          .filter(({ r }) => covers(g.bits, r.prefix, r.length, a))
          .map(({ r, i }) => `#${i} ${routeText(g.bits, r.prefix, r.length)}->${r.nextHop}`);
        expect.fail(
          `${when}: lookup(${routeText(g.bits, a, g.bits)}) answered ${got[bad]}, expected ${want[bad]} ` +
            `(routes of the sequence covering it, by insertion index: ${around.join(", ") || "none"})`,
        );
      }
    };

    it(`one insert at a time to ${total} routes, then one delete at a time to none`, () => {
      const g = growth(s.bits);
      const t = s.make().inner;
      let n = 0;
      for (const cp of g.checkpoints) {
        for (; n < cp; n++) rawInsert(t, g.words[n], g.routes[n].length, g.routes[n].nextHop);
        expect(t.size).toBe(cp);
        expectAnswers(t, g, g.up.get(cp)!, `after ${cp} inserts`);
        // get: the routes just inserted, the first one, and one not inserted yet.
        for (const i of [0, cp - 2, cp - 1, cp]) {
          if (i < 0 || i >= g.routes.length) continue;
          const want = i < cp ? g.routes[i].nextHop : NO_ROUTE;
          expect(rawGet(t, g.words[i], g.routes[i].length), `after ${cp} inserts: get #${i}`).toBe(
            want,
          );
        }
      }
      if (rawRoutes(t).length !== g.routes.length) expect.fail("forEach at the top lost routes");
      const total = g.routes.length;
      let left = total;
      for (const cp of [...g.checkpoints].reverse()) {
        for (; left > cp; left--) {
          const i = g.deleteOrder[total - left];
          if (!rawDelete(t, g.words[i], g.routes[i].length)) {
            expect.fail(
              `delete of ${routeText(g.bits, g.routes[i].prefix, g.routes[i].length)} returned false`,
            );
          }
        }
        expect(t.size).toBe(cp);
        expectAnswers(t, g, g.down.get(cp)!, `with ${cp} routes left`);
        if (left < total) {
          const gone = g.deleteOrder[total - left - 1];
          expect(rawGet(t, g.words[gone], g.routes[gone].length), `get of deleted #${gone}`).toBe(
            NO_ROUTE,
          );
        }
        if (left > 0) {
          const next = g.deleteOrder[total - left];
          expect(rawGet(t, g.words[next], g.routes[next].length), `get of live #${next}`).toBe(
            g.routes[next].nextHop,
          );
        }
      }
      for (; left > 0; left--) {
        const i = g.deleteOrder[total - left];
        rawDelete(t, g.words[i], g.routes[i].length);
      }
      const none = new Uint16Array(g.addrs.length / (g.bits / 32)).fill(NO_ROUTE);
      expect(t.size).toBe(0);
      expect(rawRoutes(t)).toEqual([]);
      expectAnswers(t, g, none, "emptied by deletes");
      // Emptied by deletes (a table may keep the shape it grew to), then filled a little again.
      for (let i = 0; i < 129; i++)
        rawInsert(t, g.words[i], g.routes[i].length, g.routes[i].nextHop);
      expectAnswers(t, g, g.up.get(129)!, "129 routes inserted again after emptying");
      t.clear();
      expect(t.size).toBe(0);
      expectAnswers(t, g, none, "after clear");
      for (let i = 0; i < 65; i++)
        rawInsert(t, g.words[i], g.routes[i].length, g.routes[i].nextHop);
      expectAnswers(t, g, g.up.get(65)!, "65 routes inserted after clear");
    });

    it("load at each power of two (-1, 0, +1), then two inserts past it and two deletes back", () => {
      const g = growth(s.bits);
      const t = s.make().inner;
      for (const p of [4096, 32768, 65536]) {
        for (const n of [p - 1, p, p + 1]) {
          if (n + 2 > g.routes.length) continue;
          t.load(routeList(g.bits, g.routes.slice(0, n)));
          expect(t.size).toBe(n);
          expectAnswers(t, g, g.up.get(n)!, `after load of ${n}`);
          for (let i = n; i < n + 2; i++) {
            rawInsert(t, g.words[i], g.routes[i].length, g.routes[i].nextHop);
          }
          expectAnswers(t, g, g.up.get(n + 2)!, `after load of ${n} and 2 inserts`);
          for (let i = n + 1; i >= n; i--) rawDelete(t, g.words[i], g.routes[i].length);
          expect(t.size).toBe(n);
          expectAnswers(t, g, g.up.get(n)!, `after load of ${n}, 2 inserts and 2 deletes`);
        }
      }
    });
  },
);
