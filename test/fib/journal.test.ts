import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeJournal,
  FibJournal,
  JOURNAL_HEADER_BYTES,
  JOURNAL_MAGIC,
  type JournalEntry,
} from "../../fib/journal.ts";
import { mask4, mask6Word } from "../../fib/prefix.ts";
import { type Family, MAX_NEXT_HOP } from "../../fib/types.ts";

type Change = {
  op: "insert" | "delete";
  family: Family;
  prefix: number[];
  length: number;
  nextHop: number;
};

const change = fc
  .record({
    op: fc.constantFrom("insert" as const, "delete" as const),
    family: fc.constantFrom(4 as const, 6 as const),
    words: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
    length: fc.integer({ min: 0, max: 128 }),
    nextHop: fc.oneof(fc.integer({ min: 0, max: MAX_NEXT_HOP }), fc.constant(MAX_NEXT_HOP)),
  })
  .map(({ op, family, words, length, nextHop }): Change => {
    if (family === 4) {
      const len = length % 33;
      return { op, family, prefix: [(words[0] & mask4(len)) >>> 0], length: len, nextHop };
    }
    const prefix = words.map((v, w) => (v & mask6Word(length, w)) >>> 0);
    return { op, family, prefix, length, nextHop };
  });

function record(journal: FibJournal, changes: Change[]): void {
  for (const c of changes) {
    journal.record(journal.lastSeq + 1, c.op, c.family, c.prefix, c.length, c.nextHop);
  }
}

/** An entry as a plain object, for comparing with what was recorded. */
function plain(e: JournalEntry): Record<string, unknown> {
  return {
    seq: e.seq,
    op: e.op,
    family: e.family,
    prefix: Array.from(e.prefix),
    length: e.length,
    nextHop: e.op === "insert" ? e.nextHop : undefined,
  };
}

function expected(changes: Change[], firstSeq: number): Record<string, unknown>[] {
  return changes.map((c, i) => ({
    seq: firstSeq + i,
    op: c.op,
    family: c.family,
    prefix: c.prefix,
    length: c.length,
    nextHop: c.op === "insert" ? c.nextHop : undefined,
  }));
}

function decodeOk(bytes: Uint8Array): { firstSeq: number; entries: JournalEntry[] } {
  const r = decodeJournal(bytes);
  if (!r.ok) throw new Error(r.error);
  return r;
}

function reseal(bytes: Uint8Array): Uint8Array {
  const end = bytes.length - 4;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, crc32(bytes.subarray(0, end)));
  return bytes;
}

/** A raw journal with a correct body length and CRC. */
function craft(body: number[], count: number, firstSeq = 1): Uint8Array {
  const out = new Uint8Array(JOURNAL_HEADER_BYTES + body.length + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, JOURNAL_MAGIC);
  out[4] = 1;
  view.setUint32(8, Math.floor(firstSeq / 2 ** 32));
  view.setUint32(12, firstSeq % 2 ** 32);
  view.setUint32(16, count);
  view.setUint32(20, body.length);
  out.set(body, JOURNAL_HEADER_BYTES);
  return reseal(out);
}

function expectError(bytes: Uint8Array, pattern: RegExp): void {
  const r = decodeJournal(bytes);
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.error).toMatch(pattern);
}

function smallJournal(): Uint8Array {
  const j = new FibJournal(41);
  j.record(42, "insert", 4, 0x0a000000, 8, 7);
  j.record(43, "delete", 6, [0x20010db8, 0, 0, 0], 32);
  j.record(44, "insert", 6, [0, 0, 0, 0], 0, MAX_NEXT_HOP);
  j.record(45, "delete", 4, [0xc6120001], 32);
  return j.encode();
}

describe("FibJournal", () => {
  it("round-trips random changes of both families", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(0, 2 ** 32 - 1, 2 ** 40), fc.nat()),
        fc.array(change, { maxLength: 150 }),
        (base, changes) => {
          const j = new FibJournal(base, 64);
          record(j, changes);
          expect(j.count).toBe(changes.length);
          expect(j.lastSeq).toBe(base + changes.length);
          const d = decodeOk(j.encode());
          expect(d.firstSeq).toBe(base + 1);
          expect(d.entries.map(plain)).toEqual(expected(changes, base + 1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("encodes the entries after any seq, and truncates shipped ones", () => {
    fc.assert(
      fc.property(
        fc.array(change, { minLength: 1, maxLength: 60 }),
        fc.nat(),
        fc.nat(),
        (changes, a, b) => {
          const base = 1000;
          const j = new FibJournal(base);
          record(j, changes);
          const after = base + (a % (changes.length + 1));
          const d = decodeOk(j.encode(after));
          expect(d.firstSeq).toBe(after + 1);
          expect(d.entries.map(plain)).toEqual(expected(changes.slice(after - base), after + 1));
          const upto = base + (b % (changes.length + 1));
          j.truncate(upto);
          expect(j.baseSeq).toBe(upto);
          expect(j.count).toBe(base + changes.length - upto);
          expect(decodeOk(j.encode()).entries.map(plain)).toEqual(
            expected(changes.slice(upto - base), upto + 1),
          );
          // Recording goes on after a truncate.
          j.record(j.lastSeq + 1, "insert", 4, 0, 0, 1);
          expect(decodeOk(j.encode()).entries.length).toBe(j.count);
        },
      ),
    );
  });

  it("encodes an empty journal", () => {
    const j = new FibJournal(5);
    const d = decodeOk(j.encode());
    expect(d).toEqual({ ok: true, firstSeq: 6, entries: [] });
    expect(j.encode().length).toBe(JOURNAL_HEADER_BYTES + 4);
  });

  it("refuses to encode from before its base or after its end", () => {
    const j = new FibJournal(10);
    record(j, [{ op: "insert", family: 4, prefix: [0], length: 0, nextHop: 1 }]);
    expect(() => j.encode(9)).toThrow(/after seq 10 only/);
    expect(() => j.encode(12)).toThrow(RangeError);
    expect(decodeOk(j.encode(11)).entries).toEqual([]);
    j.truncate(11);
    expect(() => j.encode(10)).toThrow(RangeError);
    j.truncate(500); // past the end: drops everything, base stays at the last seq
    expect(j.baseSeq).toBe(11);
    expect(j.count).toBe(0);
  });

  it("refuses out-of-sequence and invalid records", () => {
    const j = new FibJournal(0);
    expect(() => j.record(2, "insert", 4, 0, 0, 1)).toThrow(/does not follow seq 0/);
    expect(() => j.record(1, "insert", 4, 1, 8, 1)).toThrow(/host bits/);
    expect(() => j.record(1, "insert", 4, 0, 33, 1)).toThrow(RangeError);
    expect(() => j.record(1, "insert", 6, [0, 0, 0, 1], 64, 1)).toThrow(/host bits/);
    expect(() => j.record(1, "insert", 4, 0, 8, 0xffff)).toThrow(RangeError);
    expect(() => j.record(1, "insert", 5 as Family, 0, 8, 1)).toThrow(RangeError);
    expect(() => new FibJournal(-1)).toThrow(RangeError);
    expect(j.count).toBe(0);
    // A delete needs no next hop.
    j.record(1, "delete", 4, 0, 8);
    expect(decodeOk(j.encode()).entries.map(plain)).toEqual([
      { seq: 1, op: "delete", family: 4, prefix: [0], length: 8, nextHop: undefined },
    ]);
  });

  it("holds entries compactly and gives memory back after a truncate", () => {
    const j = new FibJournal(0, 64);
    for (let i = 0; i < 100_000; i++) j.record(i + 1, "insert", 4, (i << 8) >>> 0, 24, i & 255);
    // 7 bytes an IPv4 /24 insert, buffer doubling at most doubles that.
    expect(j.bytes()).toBeLessThan(100_000 * 7 * 2 + 64);
    expect(j.encode().length).toBe(JOURNAL_HEADER_BYTES + 100_000 * 7 + 4);
    const before = j.bytes();
    j.truncate(99_990);
    expect(j.bytes()).toBeLessThan(before / 10);
    expect(decodeOk(j.encode()).entries.map((e) => e.seq)).toEqual([
      99_991, 99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999, 100_000,
    ]);
  });
});

describe("decodeJournal refuses corrupt input and never throws", () => {
  it("refuses a journal cut at every offset", () => {
    const bytes = smallJournal();
    for (let k = 0; k < bytes.length; k++) expectError(bytes.subarray(0, k), /truncated/);
  });

  it("refuses trailing bytes", () => {
    const bytes = smallJournal();
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expectError(longer, /1 trailing bytes after the CRC/);
  });

  it("catches every single-bit flip", () => {
    const bytes = smallJournal();
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = bytes.slice();
        copy[i] ^= 1 << bit;
        expect(decodeJournal(copy).ok, `flip of byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  it("names a bad magic, an unknown version, flags, reserved bytes and a bad CRC", () => {
    const bytes = smallJournal();
    let copy = bytes.slice();
    copy[3] = 0;
    expectError(copy, /bad magic 0x56464a00 at byte offset 0/);
    copy = bytes.slice();
    copy[4] = 9;
    expectError(copy, /unsupported format version 9 at byte offset 4/);
    copy = bytes.slice();
    copy[5] = 0x80;
    expectError(reseal(copy), /unknown flags 0x80 at byte offset 5/);
    copy = bytes.slice();
    copy[6] = 1;
    expectError(reseal(copy), /reserved/);
    copy = bytes.slice();
    copy[JOURNAL_HEADER_BYTES] ^= 1;
    expectError(copy, /CRC mismatch/);
    // A snapshot is not a journal.
    expectError(new TextEncoder().encode("VFIB and some more bytes to fill it up"), /bad magic/);
  });

  const crafted: [string, number[], number, number, RegExp][] = [
    ["reserved control bits", [0x04, 8, 10, 0, 1], 1, 1, /entry 0 .*offset 24: reserved bits/],
    ["an IPv4 length over 32", [0x00, 33], 1, 1, /IPv4 prefix length 33 > 32/],
    ["an IPv6 length over 128", [0x03, 200], 1, 1, /IPv6 prefix length 200 > 128/],
    ["host bits", [0x01, 12, 10, 0x1f], 1, 1, /10\.31\.0\.0\/12 has host bits set/],
    ["a next hop over MAX_NEXT_HOP", [0x00, 0, 0xff, 0xff], 1, 1, /next hop 65535 > 65534/],
    ["an entry cut short", [0x00, 8, 10, 0], 1, 1, /entry 0 .*cut short by the end of the body/],
    [
      "a count above the body",
      [0x01, 8, 10, 0x01, 8],
      2,
      1,
      /entry 1 \(of 2, seq 2\) at byte offset 27: cut short/,
    ],
    [
      "a count below the body",
      [0x01, 8, 10, 0x01, 8, 11],
      1,
      1,
      /3 bytes left at byte offset 27 after the last entry: the entry count 1/,
    ],
    ["a count no body could hold", [0x01, 0], 5, 1, /entry count 5 exceeds/],
    ["first seq 0", [0x01, 0], 1, 0, /first sequence number .* out of range/],
    ["a seq past 2^53", [0x01, 0, 0x01, 0], 2, 2 ** 53 - 1, /out of range/],
  ];
  for (const [what, body, count, first, pattern] of crafted) {
    it(`refuses ${what}`, () => expectError(craft(body, count, first), pattern));
  }

  it("accepts a hand-built journal", () => {
    const d = decodeOk(craft([0x01, 8, 10, 0x02, 16, 0x20, 0x01, 0x01, 0x2c], 2, 2 ** 53 - 2));
    expect(d.entries.map(plain)).toEqual([
      {
        seq: 2 ** 53 - 2,
        op: "delete",
        family: 4,
        prefix: [0x0a000000],
        length: 8,
        nextHop: undefined,
      },
      {
        seq: 2 ** 53 - 1,
        op: "insert",
        family: 6,
        prefix: [0x20010000, 0, 0, 0],
        length: 16,
        nextHop: 300,
      },
    ]);
  });

  it("never throws on random bytes or random edits with a fixed CRC", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(decodeJournal(bytes).ok).toBe(false);
      }),
    );
    const bytes = smallJournal();
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: bytes.length - 5 }),
            value: fc.integer({ min: 0, max: 255 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (edits) => {
          const copy = bytes.slice();
          for (const e of edits) copy[e.at] = e.value;
          const d = decodeJournal(reseal(copy));
          if (d.ok) {
            for (let i = 0; i < d.entries.length; i++)
              expect(d.entries[i].seq).toBe(d.firstSeq + i);
          } else {
            expect(typeof d.error).toBe("string");
          }
        },
      ),
      { numRuns: 2000 },
    );
    expect(decodeJournal(null as unknown as Uint8Array).ok).toBe(false);
  });
});
