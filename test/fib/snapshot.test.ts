import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mask4, mask6Word, RouteListBuilder } from "../../fib/prefix.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_MAGIC,
} from "../../fib/snapshot.ts";
import { type Family, MAX_NEXT_HOP, type RouteList, wordsOf } from "../../fib/types.ts";

type Route = { words: number[]; length: number; nextHop: number };

function list(family: Family, routes: Route[]): RouteList {
  const b = new RouteListBuilder(family, routes.length);
  for (const r of routes) b.push(r.words, r.length, r.nextHop);
  return b.build();
}

const empty4 = (): RouteList => list(4, []);
const empty6 = (): RouteList => list(6, []);

/** A list's routes as sorted text, for comparing content regardless of order. */
function canon(l: RouteList): string[] {
  const w = wordsOf(l.family);
  const out: string[] = [];
  for (let i = 0; i < l.count; i++) {
    const words = Array.from(l.prefixes.subarray(i * w, i * w + w), (v) =>
      v.toString(16).padStart(8, "0"),
    );
    out.push(`${words.join(":")}/${String(l.lengths[i]).padStart(3, "0")}=${l.nextHops[i]}`);
  }
  return out.sort();
}

/** Drops later duplicates of the same prefix/length. */
function dedupe(routes: Route[]): Route[] {
  const seen = new Set<string>();
  return routes.filter((r) => {
    const key = `${r.words.join(":")}/${r.length}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const nextHop = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.integer({ min: 0, max: 255 }),
  fc.integer({ min: 0, max: MAX_NEXT_HOP }),
  fc.constant(MAX_NEXT_HOP),
);

const route4 = fc
  .record({
    addr: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0x0a000000)),
    length: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(0, 8, 24, 32)),
    nextHop,
  })
  .map(({ addr, length, nextHop }) => ({
    words: [(addr & mask4(length)) >>> 0],
    length,
    nextHop,
  }));

const route6 = fc
  .record({
    addr: fc.oneof(
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
      fc.constantFrom<number[]>(
        [0x20010db8, 0, 0, 0],
        [0, 0, 0, 0],
        [0x20010db8, 0x12340000, 0, 1],
      ),
    ),
    length: fc.oneof(fc.integer({ min: 0, max: 128 }), fc.constantFrom(0, 32, 48, 64, 128)),
    nextHop,
  })
  .map(({ addr, length, nextHop }) => ({
    words: addr.map((v, w) => (v & mask6Word(length, w)) >>> 0),
    length,
    nextHop,
  }));

const seq = fc.oneof(fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1), fc.maxSafeNat());

/** Builds a raw snapshot from a header and body, with a correct CRC and body length. */
function craft(body: number[], count4: number, count6: number, s = 7): Uint8Array {
  const out = new Uint8Array(SNAPSHOT_HEADER_BYTES + body.length + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC);
  out[4] = 1;
  view.setUint32(8, Math.floor(s / 2 ** 32));
  view.setUint32(12, s % 2 ** 32);
  view.setUint32(16, count4);
  view.setUint32(20, count6);
  view.setUint32(24, body.length);
  out.set(body, SNAPSHOT_HEADER_BYTES);
  return reseal(out);
}

/** Recomputes the trailing CRC after an edit. */
function reseal(bytes: Uint8Array): Uint8Array {
  const end = bytes.length - 4;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, crc32(bytes.subarray(0, end)));
  return bytes;
}

function expectError(bytes: Uint8Array, pattern: RegExp): string {
  const r = decodeSnapshot(bytes);
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error("unreachable");
  expect(r.error).toMatch(pattern);
  return r.error;
}

const small = (): Uint8Array =>
  encodeSnapshot(
    0x1_2345_6789,
    list(4, [
      { words: [0], length: 0, nextHop: 1 },
      { words: [0x0a000000], length: 8, nextHop: 2 },
      { words: [0x0a010000], length: 16, nextHop: 300 },
      { words: [0xc0a80101], length: 32, nextHop: 300 },
    ]),
    list(6, [
      { words: [0x20010db8, 0, 0, 0], length: 32, nextHop: 5 },
      { words: [0x20010db8, 1, 0, 1], length: 128, nextHop: MAX_NEXT_HOP },
    ]),
  );

describe("snapshot round trips", () => {
  it("round-trips random tables of both families", () => {
    fc.assert(
      fc.property(
        seq,
        fc.array(route4, { maxLength: 200 }),
        fc.array(route6, { maxLength: 120 }),
        (s, r4, r6) => {
          const l4 = list(4, dedupe(r4));
          const l6 = list(6, dedupe(r6));
          const bytes = encodeSnapshot(s, l4, l6);
          const d = decodeSnapshot(bytes);
          expect(d.ok).toBe(true);
          if (!d.ok) return;
          expect(d.seq).toBe(s);
          expect(d.routes4.family).toBe(4);
          expect(d.routes6.family).toBe(6);
          expect(canon(d.routes4)).toEqual(canon(l4));
          expect(canon(d.routes6)).toEqual(canon(l6));
          // Decoded lists re-encode to the same bytes (one table, one encoding).
          expect(encodeSnapshot(s, d.routes4, d.routes6)).toEqual(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("encodes the same table the same way whatever the order of the lists", () => {
    fc.assert(
      fc.property(
        fc.array(route4, { maxLength: 100 }),
        fc.array(route6, { maxLength: 60 }),
        fc.integer(),
        (r4, r6, salt) => {
          const a4 = dedupe(r4);
          const a6 = dedupe(r6);
          const shuffle = <T>(xs: T[]): T[] =>
            xs
              .map((x, i) => ({ x, k: Math.imul(i + salt, 0x9e3779b1) >>> 0 }))
              .sort((p, q) => p.k - q.k)
              .map((p) => p.x);
          expect(encodeSnapshot(3, list(4, shuffle(a4)), list(6, shuffle(a6)))).toEqual(
            encodeSnapshot(3, list(4, a4), list(6, a6)),
          );
        },
      ),
    );
  });

  it("round-trips empty tables", () => {
    const bytes = encodeSnapshot(0, empty4(), empty6());
    expect(bytes.length).toBe(SNAPSHOT_HEADER_BYTES + 4);
    const d = decodeSnapshot(bytes);
    expect(d).toMatchObject({ ok: true, seq: 0 });
    if (d.ok) {
      expect(d.routes4.count).toBe(0);
      expect(d.routes6.count).toBe(0);
    }
  });

  it("round-trips default routes, host routes and extreme next hops", () => {
    const r4 = list(4, [
      { words: [0], length: 0, nextHop: 0 },
      { words: [0], length: 32, nextHop: MAX_NEXT_HOP },
      { words: [0xffffffff], length: 32, nextHop: 255 },
      { words: [0x80000000], length: 1, nextHop: 256 },
      { words: [0xc6120001], length: 32, nextHop: 0 },
    ]);
    const r6 = list(6, [
      { words: [0, 0, 0, 0], length: 0, nextHop: 9 },
      { words: [0, 0, 0, 0], length: 128, nextHop: 9 },
      { words: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], length: 128, nextHop: 1 },
      { words: [0x20010db8, 0, 0, 1], length: 128, nextHop: MAX_NEXT_HOP },
    ]);
    const d = decodeSnapshot(encodeSnapshot(2 ** 53 - 1, r4, r6));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.seq).toBe(2 ** 53 - 1);
    expect(canon(d.routes4)).toEqual(canon(r4));
    expect(canon(d.routes6)).toEqual(canon(r6));
  });

  it("decodes from a view into a larger buffer", () => {
    const bytes = small();
    const big = new Uint8Array(bytes.length + 20);
    big.set(bytes, 7);
    expect(decodeSnapshot(big.subarray(7, 7 + bytes.length)).ok).toBe(true);
  });

  it("codes a table of /24s in under 3.1 bytes a route", () => {
    const b = new RouteListBuilder(4, 100_000);
    let x = 1;
    for (let i = 0; i < 100_000; i++) {
      x = Math.imul(x, 1103515245) + 12345;
      b.push([((0x0b000000 + i * 256) & 0xffffff00) >>> 0], 24, (x >>> 16) & 255);
    }
    const bytes = encodeSnapshot(1, b.build(), empty6());
    expect(bytes.length / 100_000).toBeLessThan(3.1);
    expect(decodeSnapshot(bytes).ok).toBe(true);
  });
});

describe("snapshot encoder refuses invalid input", () => {
  it("refuses bad sequence numbers", () => {
    for (const s of [-1, 0.5, 2 ** 53, Number.NaN]) {
      expect(() => encodeSnapshot(s, empty4(), empty6())).toThrow(RangeError);
    }
  });

  it("refuses duplicates, host bits, long lengths, big next hops and swapped families", () => {
    const bad4: Route[][] = [
      [
        { words: [0x0a000000], length: 8, nextHop: 1 },
        { words: [0x0a000000], length: 8, nextHop: 2 },
      ],
      [{ words: [0x0a000001], length: 24, nextHop: 1 }],
      [{ words: [0], length: 33, nextHop: 1 }],
      [{ words: [0], length: 8, nextHop: 0xffff }],
    ];
    for (const routes of bad4) {
      expect(() => encodeSnapshot(1, list(4, routes), empty6())).toThrow(RangeError);
    }
    expect(() =>
      encodeSnapshot(1, empty4(), list(6, [{ words: [0, 0, 0, 1], length: 64, nextHop: 1 }])),
    ).toThrow(/host bits/);
    expect(() => encodeSnapshot(1, empty6(), empty6())).toThrow(RangeError);
    expect(() => encodeSnapshot(1, empty4(), empty4())).toThrow(RangeError);
  });
});

describe("snapshot decoder refuses corrupt input and never throws", () => {
  it("refuses a snapshot cut at every offset", () => {
    const bytes = small();
    for (let k = 0; k < bytes.length; k++) {
      expectError(bytes.subarray(0, k), /truncated/);
    }
  });

  it("refuses trailing bytes", () => {
    const bytes = small();
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    expectError(
      longer,
      new RegExp(`3 trailing bytes after the CRC at byte offset ${bytes.length - 4}`),
    );
  });

  it("catches every single-bit flip", () => {
    const bytes = small();
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = bytes.slice();
        copy[i] ^= 1 << bit;
        expect(decodeSnapshot(copy).ok, `flip of byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  it("names a bad magic, an unknown version, flags and reserved bytes", () => {
    const bytes = small();
    let copy = bytes.slice();
    copy[0] = 0x58;
    expectError(copy, /bad magic 0x58464942 at byte offset 0/);
    expectError(new TextEncoder().encode("hello, world, this is not a snapshot"), /bad magic/);
    copy = bytes.slice();
    copy[4] = 2;
    expectError(copy, /unsupported format version 2 at byte offset 4/);
    copy = bytes.slice();
    copy[5] = 1;
    expectError(reseal(copy), /unknown flags 0x1 at byte offset 5/);
    copy = bytes.slice();
    copy[7] = 1;
    expectError(reseal(copy), /reserved/);
    copy = bytes.slice();
    copy[8] = 0x00;
    copy[9] = 0x20; // seq high word 0x00200000: seq >= 2^53
    expectError(reseal(copy), /sequence number at byte offset 8/);
  });

  it("names a CRC mismatch", () => {
    const bytes = small();
    bytes[SNAPSHOT_HEADER_BYTES + 1] ^= 0x10;
    expectError(bytes, /CRC mismatch: trailer at byte offset \d+/);
  });

  it("refuses a body length that disagrees with the size", () => {
    const bytes = small();
    const view = new DataView(bytes.buffer);
    view.setUint32(24, view.getUint32(24) + 1);
    expectError(bytes, /truncated: header says/);
    view.setUint32(24, view.getUint32(24) - 2);
    expectError(bytes, /trailing bytes/);
  });

  // Bodies with a valid CRC that are still wrong (a broken encoder, not a bit error).
  const crafted: [string, number[], number, number, RegExp][] = [
    [
      "an IPv4 length over 32",
      [0x80, 33],
      1,
      0,
      /IPv4 route 0 \(of 1\) at byte offset 28: prefix length 33 > 32/,
    ],
    [
      "an IPv6 length over 128",
      [0x80, 129],
      0,
      1,
      /IPv6 route 0 \(of 1\) at byte offset 28: prefix length 129 > 128/,
    ],
    [
      "host bits",
      [0x80, 20, 10, 0, 0x1f],
      1,
      0,
      /10\.0\.31\.0\/20 has host bits set past its length/,
    ],
    ["IPv6 host bits", [0x80, 4, 0x21], 0, 1, /2100::\/4 has host bits set/],
    ["a next hop over MAX_NEXT_HOP", [0xc0, 8, 10, 0xff, 0xff], 1, 0, /next hop 65535 > 65534/],
    ["next-hop mode 3", [0xe0, 8, 10, 0, 0], 1, 0, /invalid next-hop mode 3/],
    [
      "a duplicate prefix",
      [0x80, 8, 10, 0x01],
      2,
      0,
      /IPv4 route 1 \(of 2\) at byte offset 31: duplicate prefix 10\.0\.0\.0\/8/,
    ],
    [
      "routes out of order",
      [0x80, 8, 11, 0x80, 8, 10],
      2,
      0,
      /route 1 .*offset 31: 10\.0\.0\.0\/8 is out of order/,
    ],
    ["a length out of order", [0x80, 16, 10, 0, 0x81, 8], 2, 0, /out of order/],
    [
      "more shared bytes than the length has",
      [0x80, 8, 10, 0x02],
      2,
      0,
      /shares 2 bytes .* a \/8 has only 1/,
    ],
    [
      "counts above the body",
      [0x80, 8, 10],
      2,
      0,
      /route 1 \(of 2\) at byte offset 31: cut short by the end of the body at byte offset 31/,
    ],
    ["a route cut short", [0x80, 8, 10, 0x80, 24, 10], 2, 0, /route 1 .*cut short/],
    ["a length byte cut short", [0x80, 8, 10, 0x80], 2, 0, /route 1 .*cut short/],
    [
      "counts below the body",
      [0x80, 8, 10, 0x80, 16, 11, 0],
      1,
      0,
      /4 bytes left at byte offset 31 after the last route: the route counts \(1 IPv4, 0 IPv6\)/,
    ],
    [
      "counts no body could hold",
      [0x00],
      1000,
      0,
      /route counts \(1000 IPv4, 0 IPv6\) exceed what a 1-byte body can hold/,
    ],
  ];
  for (const [what, body, c4, c6, pattern] of crafted) {
    it(`refuses ${what}`, () => {
      const error = expectError(craft(body, c4, c6), pattern);
      expect(error.startsWith("snapshot: ")).toBe(true);
    });
  }

  it("accepts hand-built bodies that use every coding choice", () => {
    // 10/8 nh 300 (two bytes), 10.1/16 nh 300 (same next hop, shares 1 byte), 10.1.2/24 (shares
    // 2 bytes, nh in one byte), then IPv6 ::/0 nh 0 (state reset: length 0 and nh 0 implied).
    const bytes = craft([0xc0, 8, 10, 1, 44, 0x81, 16, 1, 0xa2, 24, 2, 7, 0x00], 3, 1, 99);
    const d = decodeSnapshot(bytes);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.seq).toBe(99);
    expect(Array.from(d.routes4.prefixes)).toEqual([0x0a000000, 0x0a010000, 0x0a010200]);
    expect(Array.from(d.routes4.lengths)).toEqual([8, 16, 24]);
    expect(Array.from(d.routes4.nextHops)).toEqual([300, 300, 7]);
    expect(Array.from(d.routes6.prefixes)).toEqual([0, 0, 0, 0]);
    expect(Array.from(d.routes6.lengths)).toEqual([0]);
    expect(Array.from(d.routes6.nextHops)).toEqual([0]);
  });

  it("never throws on random bytes, or on random edits of a valid snapshot with a fixed CRC", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(decodeSnapshot(bytes).ok).toBe(false);
      }),
    );
    const bytes = small();
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
          const d = decodeSnapshot(reseal(copy));
          if (d.ok) {
            // Whatever it accepts is a valid table that round-trips.
            const again = decodeSnapshot(encodeSnapshot(d.seq, d.routes4, d.routes6));
            expect(again.ok).toBe(true);
          } else {
            expect(typeof d.error).toBe("string");
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("refuses things that are not byte arrays without throwing", () => {
    expect(decodeSnapshot(undefined as unknown as Uint8Array).ok).toBe(false);
    expect(decodeSnapshot([1, 2, 3] as unknown as Uint8Array).ok).toBe(false);
  });
});
