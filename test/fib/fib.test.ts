import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Fib, type FibOptions } from "../../fib/fib.ts";
import { FibJournal } from "../../fib/journal.ts";
import { NaiveLpm4, NaiveLpm6 } from "../../fib/naive.ts";
import { Poptrie4, Poptrie6 } from "../../fib/poptrie.ts";
import { mask4, mask6Word } from "../../fib/prefix.ts";
import { encodeSnapshot } from "../../fib/snapshot.ts";
import { type Lpm4, MAX_NEXT_HOP, NO_ROUTE, type RouteList } from "../../fib/types.ts";

type Op =
  | { kind: "insert4"; prefix: number; length: number; nextHop: number }
  | { kind: "delete4"; prefix: number; length: number }
  | { kind: "insert6"; prefix: number[]; length: number; nextHop: number }
  | { kind: "delete6"; prefix: number[]; length: number };

// Prefixes drawn from a small space, so that deletes and re-inserts hit.
const len4 = fc.constantFrom(0, 1, 8, 12, 16, 20, 24, 28, 31, 32);
const addr4 = fc
  .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([top, rest]) => (0xc6000000 | (top << 20) | (rest & 0x000fffff)) >>> 0);
const len6 = fc.constantFrom(0, 16, 32, 47, 48, 64, 100, 127, 128);
const addr6 = fc
  .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([top, rest]) => [0x20010db8, (top << 28) >>> 0, rest, rest ^ 0x5a5a5a5a]);
const hop = fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: MAX_NEXT_HOP }));

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("insert4" as const), a: addr4, length: len4, nextHop: hop }).map(
    ({ a, length, nextHop }): Op => ({
      kind: "insert4",
      prefix: (a & mask4(length)) >>> 0,
      length,
      nextHop,
    }),
  ),
  fc
    .record({ a: addr4, length: len4 })
    .map(({ a, length }): Op => ({ kind: "delete4", prefix: (a & mask4(length)) >>> 0, length })),
  fc.record({ a: addr6, length: len6, nextHop: hop }).map(
    ({ a, length, nextHop }): Op => ({
      kind: "insert6",
      prefix: a.map((v, w) => (v & mask6Word(length, w)) >>> 0),
      length,
      nextHop,
    }),
  ),
  fc.record({ a: addr6, length: len6 }).map(
    ({ a, length }): Op => ({
      kind: "delete6",
      prefix: a.map((v, w) => (v & mask6Word(length, w)) >>> 0),
      length,
    }),
  ),
);

function apply(fib: Fib, ops: Op[]): void {
  for (const o of ops) {
    if (o.kind === "insert4") fib.insert4(o.prefix, o.length, o.nextHop);
    else if (o.kind === "delete4") fib.delete4(o.prefix, o.length);
    else if (o.kind === "insert6") fib.insert6(o.prefix, o.length, o.nextHop);
    else fib.delete6(o.prefix, o.length);
  }
}

/** Every route of a FIB as sorted text. */
function dump(fib: Fib): string[] {
  const out: string[] = [];
  fib.forEach4((p, l, nh) => out.push(`4 ${p.toString(16).padStart(8, "0")}/${l} ${nh}`));
  fib.forEach6((p, l, nh) =>
    out.push(`6 ${Array.from(p, (v) => v.toString(16).padStart(8, "0")).join(":")}/${l} ${nh}`),
  );
  return out.sort();
}

/** Probe addresses near the prefixes the generators use, as packed batches. */
function probes(): { a4: Uint32Array; a6: Uint32Array } {
  const a4 = new Uint32Array(2000);
  const a6 = new Uint32Array(2000 * 4);
  let x = 7;
  const next = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x;
  };
  for (let i = 0; i < 2000; i++) {
    a4[i] = i % 4 === 0 ? next() : (0xc6000000 | (next() & 0x00ffffff)) >>> 0;
    a6.set([0x20010db8, next() & 0xf0000000, next(), next()], i * 4);
  }
  a4[0] = 0;
  a4[1] = 0xffffffff;
  return { a4, a6 };
}

/** Lookups, batch and single, of every probe address. */
function answers(fib: Fib): number[] {
  const { a4, a6 } = probes();
  const out4 = new Uint16Array(a4.length);
  const out6 = new Uint16Array(a6.length / 4);
  fib.lookupBatch4(a4, out4);
  fib.lookupBatch6(a6, out6);
  for (let i = 0; i < 50; i++) {
    expect(fib.lookup4(a4[i])).toBe(out4[i]);
    expect(fib.lookup6(a6, i * 4)).toBe(out6[i]);
    expect(fib.lookup6(a6.subarray(i * 4, i * 4 + 4))).toBe(out6[i]);
  }
  return [...out4, ...out6];
}

/** Everything observable about a FIB, to check that a refused load changed nothing. */
function state(fib: Fib) {
  return {
    seq: fib.seq,
    size: fib.size,
    size4: fib.size4,
    size6: fib.size6,
    routes: dump(fib),
    answers: answers(fib),
  };
}

const naive: FibOptions = { make4: () => new NaiveLpm4(), make6: () => new NaiveLpm6() };
// Small direct arrays: cheap to make, and the short test prefixes reach the trie nodes.
const small: FibOptions = {
  make4: () => new Poptrie4({ directBits: 8 }),
  make6: () => new Poptrie6({ directBits: 8 }),
};
// The default tables cost milliseconds to make and fill (2^19 and 2^18 direct entries):
// fewer property runs for them.
const tables: [string, FibOptions, number][] = [
  ["Poptrie (default)", {}, 0.25],
  ["Poptrie (8-bit direct)", small, 1],
  ["naive", naive, 1],
];

describe.each(tables)("Fib over %s tables", (_name, options, scale) => {
  const runs = (n: number) => Math.max(5, Math.round(n * scale));
  it("numbers every change and nothing else", () => {
    const fib = new Fib(options);
    expect(fib.seq).toBe(0);
    expect(fib.insert4(0x0a000000, 8, 1)).toBe(true);
    expect(fib.seq).toBe(1);
    expect(fib.insert4(0x0a000000, 8, 1)).toBe(false); // same next hop: nothing to do
    expect(fib.seq).toBe(1);
    expect(fib.insert4(0x0a000000, 8, 2)).toBe(true);
    expect(fib.seq).toBe(2);
    expect(fib.delete4(0x0b000000, 8)).toBe(false); // absent
    expect(fib.delete6([0x20010db8, 0, 0, 0], 32)).toBe(false);
    expect(fib.seq).toBe(2);
    expect(fib.insert6([0x20010db8, 0, 0, 0], 32, 3)).toBe(true);
    expect(fib.delete4(0x0a000000, 8)).toBe(true);
    expect(fib.seq).toBe(4);
    expect(fib.size).toBe(1);
    expect(() => fib.insert4(0x0a000001, 8, 1)).toThrow(RangeError);
    expect(() => fib.insert4(0x0a000000, 8, NO_ROUTE)).toThrow(RangeError);
    expect(() => fib.insert6([0x20010db8, 0, 0, 0], 32, NO_ROUTE)).toThrow(RangeError);
    expect(() => fib.delete6([0x20010db8, 0, 0, 1], 64)).toThrow(RangeError);
    expect(fib.seq).toBe(4);
  });

  it("looks up like the naive reference after random changes", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const fib = new Fib(options);
        const ref = new Fib(naive);
        apply(fib, ops);
        apply(ref, ops);
        expect(fib.seq).toBe(ref.seq);
        expect(dump(fib)).toEqual(dump(ref));
        expect(answers(fib)).toEqual(answers(ref));
      }),
      { numRuns: runs(60) },
    );
  });

  it("answers default and host routes", () => {
    const fib = new Fib(options);
    expect(fib.lookup4(0x01020304)).toBe(NO_ROUTE);
    fib.insert4(0, 0, 1);
    fib.insert4(0xc6120001, 32, 2);
    fib.insert6([0, 0, 0, 0], 0, 3);
    fib.insert6([0x20010db8, 0, 0, 1], 128, 4);
    const copy = Fib.fromSnapshot(fib.snapshot(), options);
    expect(copy.ok).toBe(true);
    if (!copy.ok) return;
    for (const f of [fib, copy.fib]) {
      expect(f.lookup4(0x01020304)).toBe(1);
      expect(f.lookup4(0xc6120001)).toBe(2);
      expect(f.lookup4(0xc6120002)).toBe(1);
      expect(f.lookup6([0x20010db8, 0, 0, 1])).toBe(4);
      expect(f.lookup6([0x20010db8, 0, 0, 2])).toBe(3);
      expect(f.get4(0, 0)).toBe(1);
      expect(f.get6([0x20010db8, 0, 0, 1], 128)).toBe(4);
    }
    expect(copy.fib.seq).toBe(4);
  });

  it("round-trips random FIBs through snapshots", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const fib = new Fib(options);
        apply(fib, ops);
        const copy = Fib.fromSnapshot(fib.snapshot(), options);
        expect(copy.ok).toBe(true);
        if (!copy.ok) return;
        expect(state(copy.fib)).toEqual(state(fib));
        // Into the other kind of table, too.
        const other = Fib.fromSnapshot(fib.snapshot(), options === naive ? small : naive);
        expect(other.ok && dump(other.fib)).toEqual(dump(fib));
      }),
      { numRuns: runs(60) },
    );
  });

  it("round-trips an empty FIB", () => {
    const fib = new Fib(options);
    const copy = Fib.fromSnapshot(fib.snapshot(), options);
    expect(copy.ok && state(copy.fib)).toEqual(state(fib));
  });

  it("leaves the FIB unchanged when a restore is refused", () => {
    const source = new Fib(options);
    source.insert4(0x0a000000, 8, 9);
    source.insert6([0x20010db8, 0, 0, 0], 32, 9);
    const good = source.snapshot();

    const fib = new Fib(options);
    fib.insert4(0xc6120000, 15, 1);
    fib.insert4(0xc6120100, 24, 2);
    fib.insert6([0x20010db8, 0x10000, 0, 0], 48, 3);
    const before = state(fib);
    for (let k = 0; k < good.length; k++) {
      expect(fib.restore(good.subarray(0, k)).ok).toBe(false);
    }
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i] ^= 0x40;
      const r = fib.restore(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/^snapshot: /);
    }
    expect(state(fib)).toEqual(before);

    // A table that refuses the load midway.
    let made = 0;
    const flaky = new Fib({
      make4: () => {
        const t = new NaiveLpm4();
        if (made++ > 0) {
          t.load = () => {
            throw new RangeError("out of memory (test)");
          };
        }
        return t;
      },
      make6: () => new NaiveLpm6(),
    });
    flaky.insert4(0xc6120000, 15, 1);
    const flakyBefore = state(flaky);
    const r = flaky.restore(good);
    expect(r).toEqual({
      ok: false,
      error: "snapshot: loading the tables failed: RangeError: out of memory (test)",
    });
    expect(state(flaky)).toEqual(flakyBefore);

    // Restoring while the journal records is refused.
    fib.enableJournal();
    expect(fib.restore(good)).toEqual({
      ok: false,
      error: "cannot restore a snapshot while the journal records changes",
    });
    expect(state(fib)).toEqual(before);
    fib.disableJournal();
    expect(fib.restore(good)).toEqual({ ok: true });
    expect(state(fib)).toEqual(state(source));
  });

  it("replaces the whole content on restore", () => {
    const fib = new Fib(options);
    fib.insert4(0xc6120000, 15, 1);
    const snap = encodeSnapshot(77, list4([[0x0a000000, 8, 5]]), {
      family: 6,
      count: 0,
      prefixes: new Uint32Array(0),
      lengths: new Uint8Array(0),
      nextHops: new Uint16Array(0),
    });
    expect(fib.restore(snap).ok).toBe(true);
    expect(fib.seq).toBe(77);
    expect(dump(fib)).toEqual(["4 0a000000/8 5"]);
    expect(fib.lookup4(0xc6120001)).toBe(NO_ROUTE);
  });

  it("ships snapshot + journal to a fresh FIB and reproduces the source exactly", () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 80 }),
        fc.array(op, { maxLength: 80 }),
        fc.array(op, { maxLength: 80 }),
        (early, during, after) => {
          const source = new Fib(options);
          apply(source, early);
          // Migration turns the journal on, then streams a snapshot while changes go on.
          const journal = source.enableJournal();
          apply(source, during);
          const snap = source.snapshot();
          const snapSeq = source.seq;
          apply(source, after);

          const target = Fib.fromSnapshot(snap, options);
          expect(target.ok).toBe(true);
          if (!target.ok) return;
          expect(target.fib.seq).toBe(snapSeq);
          const r = target.fib.applyJournal(journal.encode(snapSeq));
          expect(r).toEqual({ ok: true });
          expect(target.fib.seq).toBe(source.seq);
          expect(state(target.fib)).toEqual(state(source));
        },
      ),
      { numRuns: runs(80) },
    );
  });

  it("ships a journal in rounds, truncating what was shipped", () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 40 }), { maxLength: 6 }), (rounds) => {
        const source = new Fib(options);
        const journal = source.enableJournal();
        const target = Fib.fromSnapshot(source.snapshot(), options);
        if (!target.ok) throw new Error(target.error);
        let shipped = source.seq;
        for (const ops of rounds) {
          apply(source, ops);
          expect(target.fib.applyJournal(journal.encode(shipped))).toEqual({ ok: true });
          shipped = source.seq;
          journal.truncate(shipped);
          expect(journal.count).toBe(0);
          expect(dump(target.fib)).toEqual(dump(source));
        }
        expect(state(target.fib)).toEqual(state(source));
      }),
      { numRuns: runs(40) },
    );
  });

  it("refuses replayed, gapped, corrupt and divergent journals and changes nothing", () => {
    const source = new Fib(options);
    source.insert4(0xc6120000, 15, 1);
    const journal = source.enableJournal();
    const target = Fib.fromSnapshot(source.snapshot(), options);
    if (!target.ok) throw new Error(target.error);
    const fib = target.fib;
    source.insert4(0xc6120100, 24, 2); // seq 2
    source.insert6([0x20010db8, 0, 0, 0], 32, 3); // seq 3
    source.delete4(0xc6120000, 15); // seq 4
    const all = journal.encode(1);
    const fromThree = journal.encode(2);

    let before = state(fib);
    let r = fib.applyJournal(fromThree);
    expect(r).toEqual({
      ok: false,
      error: "journal starts at seq 3, but this FIB is at seq 1 and needs 2: it leaves a gap",
    });
    expect(state(fib)).toEqual(before);
    for (let k = 0; k < all.length; k++)
      expect(fib.applyJournal(all.subarray(0, k)).ok).toBe(false);
    for (let i = 0; i < all.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = all.slice();
        bad[i] ^= 1 << bit;
        expect(fib.applyJournal(bad).ok).toBe(false);
      }
    }
    expect(state(fib)).toEqual(before);

    expect(fib.applyJournal(all)).toEqual({ ok: true });
    expect(state(fib)).toEqual(state(source));
    before = state(fib);
    r = fib.applyJournal(all);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/starts at seq 2, but this FIB is at seq 4 .*replays/);
    expect(fib.applyJournal(fromThree).ok).toBe(false);
    expect(state(fib)).toEqual(before);

    // A journal that does not follow this FIB's state: its last entry deletes an absent prefix.
    const other = new FibJournal(4);
    other.record(5, "insert", 4, 0x0a000000, 8, 1);
    other.record(6, "delete", 6, [0x20010db8, 0, 0, 0], 32);
    other.record(7, "delete", 4, 0x0b000000, 8);
    r = fib.applyJournal(other.encode());
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(
        /seq 7 \(delete 11\.0\.0\.0\/8\) would change nothing: .* not present/,
      );
    }
    // An insert repeating the next hop the entry before it set.
    const repeat = new FibJournal(4);
    repeat.record(5, "insert", 4, 0x0a000000, 8, 1);
    repeat.record(6, "insert", 4, 0x0a000000, 8, 1);
    r = fib.applyJournal(repeat.encode());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/seq 6 .*already has next hop 1/);
    expect(state(fib)).toEqual(before);

    // The same prefix inserted, deleted and inserted again is fine.
    const churn = new FibJournal(4);
    churn.record(5, "insert", 4, 0x0a000000, 8, 1);
    churn.record(6, "delete", 4, 0x0a000000, 8);
    churn.record(7, "insert", 4, 0x0a000000, 8, 2);
    expect(fib.applyJournal(churn.encode())).toEqual({ ok: true });
    expect(fib.seq).toBe(7);
    expect(fib.get4(0x0a000000, 8)).toBe(2);
  });

  it("undoes a journal a table refuses midway", () => {
    let inserts = 0;
    const fib = new Fib({
      ...options,
      make4: () => {
        const t = (options.make4 ?? (() => new NaiveLpm4()))();
        const insert = t.insert.bind(t);
        t.insert = (p, l, nh) => {
          if (++inserts === 4) throw new RangeError("table full (test)");
          insert(p, l, nh);
        };
        return t as Lpm4;
      },
    });
    fib.insert4(0x0a000000, 8, 1); // insert 1
    fib.insert4(0x0b000000, 8, 1); // insert 2
    const before = state(fib);
    const j = new FibJournal(2);
    j.record(3, "insert", 4, 0x0a000000, 8, 5); // insert 3: changes a next hop
    j.record(4, "delete", 4, 0x0b000000, 8);
    j.record(5, "insert", 6, [0x20010db8, 0, 0, 0], 32, 6);
    j.record(6, "insert", 4, 0x0c000000, 8, 7); // insert 4: throws
    const r = fib.applyJournal(j.encode());
    expect(r).toEqual({
      ok: false,
      error: "journal: applying seq 6 failed: RangeError: table full (test)",
    });
    expect(state(fib)).toEqual(before);
  });

  it("records journaled changes it applies in its own journal", () => {
    const a = new Fib(options);
    const ja = a.enableJournal();
    const b = Fib.fromSnapshot(a.snapshot(), options);
    if (!b.ok) throw new Error(b.error);
    const jb = b.fib.enableJournal();
    a.insert4(0x0a000000, 8, 1);
    a.insert6([0x20010db8, 0, 0, 0], 32, 2);
    a.delete4(0x0a000000, 8);
    expect(b.fib.applyJournal(ja.encode())).toEqual({ ok: true });
    expect(jb.encode()).toEqual(ja.encode());
    expect(a.enableJournal()).toBe(ja); // enabling again keeps the journal
    a.disableJournal();
    expect(a.journal).toBeUndefined();
    a.insert4(0x0a000000, 8, 1);
    expect(ja.lastSeq).toBe(3);
  });

  it("counts its bytes, the journal's included", () => {
    const fib = new Fib(options);
    for (let i = 0; i < 1000; i++) fib.insert4((0x0a000000 + i * 256) >>> 0, 24, i & 255);
    const tablesOnly = fib.bytes();
    expect(tablesOnly).toBeGreaterThan(0);
    const journal = fib.enableJournal();
    expect(fib.bytes()).toBe(tablesOnly + journal.bytes());
  });
});

function list4(routes: [number, number, number][]): RouteList {
  return {
    family: 4,
    count: routes.length,
    prefixes: Uint32Array.from(routes, (r) => r[0]),
    lengths: Uint8Array.from(routes, (r) => r[1]),
    nextHops: Uint16Array.from(routes, (r) => r[2]),
  };
}
