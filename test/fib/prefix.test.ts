/**
 * Prefix and address text (fib/prefix.ts): IPv4 per RFC 4632, IPv6 per
 * RFC 4291 section 2.2 (parsing) and RFC 5952 (printing), checked against
 * small reference parsers and printers written here, plus the masks, the
 * argument guards and RouteListBuilder.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkNextHop,
  checkPrefix4,
  checkPrefix6,
  formatIPv4,
  formatIPv6,
  formatPrefix,
  mask4,
  mask6Word,
  parseIPv4,
  parseIPv6,
  parsePrefix,
  RouteListBuilder,
} from "../../fib/prefix.ts";
import { bitsOf, MAX_NEXT_HOP, NO_ROUTE, wordsOf } from "../../fib/types.ts";

// ---- references -----------------------------------------------------------------

/** Strict dotted quad: four decimal octets 0..255, no leading zeros, nothing else. */
function refParse4(text: string): number | undefined {
  const m =
    /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/.exec(
      text,
    );
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((v, o) => v * 256 + o, 0);
}

/** RFC 4291 section 2.2 text: eight groups of 1-4 hex digits, one `::`, an optional dotted-quad tail. */
function refParse6(text: string): bigint | undefined {
  let head = text;
  let v4: number | undefined;
  const tail = /^(.*:)([^:]*\.[^:]*)$/.exec(text);
  if (tail) {
    v4 = refParse4(tail[2]);
    if (v4 === undefined) return undefined;
    head = `${tail[1]}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  if (![...left, ...right].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  if (halves.length === 1 ? left.length !== 8 : left.length + right.length > 7) return undefined;
  const all = [...left, ...new Array<string>(8 - left.length - right.length).fill("0"), ...right];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  return v4 === undefined ? v : (v & ~0xffffffffn) | BigInt(v4);
}

/** RFC 5952 section 4: lower case, no leading zeros, `::` for the longest run of two or more zero groups (the first on a tie). */
function refFormat6(v: bigint): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt((7 - i) * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

function toBig(words: ArrayLike<number>): bigint {
  let v = 0n;
  for (let w = 0; w < 4; w++) v = (v << 32n) | BigInt(words[w] >>> 0);
  return v;
}

function toWords(v: bigint): number[] {
  return [96n, 64n, 32n, 0n].map((s) => Number((v >> s) & 0xffffffffn));
}

/** Words biased toward zero groups and the IPv4-mapped range, where text forms differ most. */
const word = fc.oneof(
  fc.constantFrom(0, 0xffff, 0xffff0000, 0x10000, 1, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const words6 = fc.tuple(word, word, word, word);
const u32 = fc.integer({ min: 0, max: 0xffffffff });

// ---- masks -----------------------------------------------------------------------

describe("mask4 and mask6Word", () => {
  it("mask4(l) is the top l bits set, unsigned, for every l in 0..32", () => {
    for (let l = 0; l <= 32; l++) {
      const want = Number(((1n << BigInt(l)) - 1n) << BigInt(32 - l));
      expect(mask4(l), `/${l}`).toBe(want);
      expect(mask4(l)).toBeGreaterThanOrEqual(0);
    }
  });

  it("mask6Word(l, w) is word w of the 128-bit mask, for every l in 0..128", () => {
    for (let l = 0; l <= 128; l++) {
      const mask = ((1n << BigInt(l)) - 1n) << BigInt(128 - l);
      expect(
        [0, 1, 2, 3].map((w) => mask6Word(l, w)),
        `/${l}`,
      ).toEqual(toWords(mask));
    }
  });
});

// ---- IPv4 ---------------------------------------------------------------------------

describe("parseIPv4 / formatIPv4", () => {
  it.each([
    ["0.0.0.0", 0],
    ["255.255.255.255", 0xffffffff],
    ["198.18.0.1", 0xc6120001],
    ["128.0.0.0", 0x80000000],
    ["10.0.0.255", 0x0a0000ff],
    ["1.2.3.4", 0x01020304],
  ])("parses %s", (text, value) => {
    expect(parseIPv4(text)).toBe(value);
    expect(formatIPv4(value)).toBe(text);
  });

  it.each([
    ["a leading zero", "01.2.3.4"],
    ["a leading zero in the last octet", "1.2.3.04"],
    ["a zero written twice", "00.0.0.0"],
    ["four digits", "1.2.3.0004"],
    ["256", "256.0.0.0"],
    ["256 last", "1.2.3.256"],
    ["999", "999.1.1.1"],
    ["three octets", "1.2.3"],
    ["five octets", "1.2.3.4.5"],
    ["a trailing dot", "1.2.3.4."],
    ["a missing octet at the end", "1.2.3."],
    ["a missing octet at the start", ".1.2.3"],
    ["an empty octet", "1..2.3"],
    ["trailing space", "1.2.3.4 "],
    ["leading space", " 1.2.3.4"],
    ["trailing junk", "1.2.3.4x"],
    ["a newline", "1.2.3.4\n"],
    ["a prefix length", "1.2.3.4/24"],
    ["nothing", ""],
    ["hex", "0x1.2.3.4"],
    ["a sign", "+1.2.3.4"],
    ["a negative octet", "1.2.3.-4"],
    ["an exponent", "1e2.0.0.0"],
    ["full-width digits", "１.2.3.4"],
    ["one number", "16909060"],
    ["IPv6", "::1"],
  ])("rejects %s (%j)", (_, text) => {
    expect(parseIPv4(text)).toBeUndefined();
  });

  it("formatIPv4 then parseIPv4 gives back every address", () => {
    fc.assert(
      fc.property(u32, (a) => {
        expect(parseIPv4(formatIPv4(a))).toBe(a);
      }),
      { numRuns: 2000 },
    );
  });

  it("parseIPv4 then formatIPv4 gives back the text of every canonical address", () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const a = parseIPv4(text);
        expect(a).toBe(refParse4(text));
        expect(formatIPv4(a!)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it("parseIPv4 accepts exactly the strict dotted quads (extended forms and junk refused)", () => {
    const junk = fc.stringMatching(/^[0-9.x+\- ]{0,18}$/);
    fc.assert(
      fc.property(fc.oneof(fc.ipV4Extended(), junk, fc.string()), (text) => {
        expect(parseIPv4(text)).toBe(refParse4(text));
      }),
      { numRuns: 3000 },
    );
  });
});

// ---- IPv6 ---------------------------------------------------------------------------

describe("parseIPv6 / formatIPv6", () => {
  it.each([
    ["::", [0, 0, 0, 0]],
    ["::1", [0, 0, 0, 1]],
    ["1::", [0x00010000, 0, 0, 0]],
    ["2001:db8::", [0x20010db8, 0, 0, 0]],
    ["2001:DB8::1", [0x20010db8, 0, 0, 1]],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", [0x20010db8, 0, 0, 1]],
    ["0:0:0:0:0:0:0:0", [0, 0, 0, 0]],
    ["1:2:3:4:5:6:7:8", [0x00010002, 0x00030004, 0x00050006, 0x00070008]],
    ["1:2:3:4:5:6:7::", [0x00010002, 0x00030004, 0x00050006, 0x00070000]],
    ["::2:3:4:5:6:7:8", [0x00000002, 0x00030004, 0x00050006, 0x00070008]],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]],
    ["fe80::1:2", [0xfe800000, 0, 0, 0x00010002]],
  ])("parses %s", (text, words) => {
    expect(Array.from(parseIPv6(text) ?? [])).toEqual(words);
  });

  // RFC 4291 section 2.2 (3): x:x:x:x:x:x:d.d.d.d, with :: allowed before the dotted quad.
  it.each([
    ["IPv4-mapped, dotted", "::ffff:198.18.0.1", [0, 0, 0xffff, 0xc6120001]],
    ["IPv4-mapped, hex", "::ffff:c612:1", [0, 0, 0xffff, 0xc6120001]],
    ["IPv4-mapped, written out", "0:0:0:0:0:ffff:c612:1", [0, 0, 0xffff, 0xc6120001]],
    ["the IPv4-mapped range's first address", "::ffff:0:0", [0, 0, 0xffff, 0]],
    ["IPv4-compatible (deprecated, still valid text)", "::198.18.0.1", [0, 0, 0, 0xc6120001]],
    ["NAT64 well-known prefix (RFC 6052)", "64:ff9b::198.18.0.1", [0x0064ff9b, 0, 0, 0xc6120001]],
    [
      "six groups and a dotted quad",
      "1:2:3:4:5:6:198.18.0.1",
      [0x00010002, 0x00030004, 0x00050006, 0xc6120001],
    ],
  ])("parses %s: %s", (_, text, words) => {
    expect(Array.from(parseIPv6(text) ?? [])).toEqual(words);
  });

  it.each([
    ["nothing", ""],
    ["a lone colon", ":"],
    ["three colons", ":::"],
    ["a leading single colon", ":1::"],
    ["a trailing single colon", "1:2:3:4:5:6:7:8:"],
    ["nine groups", "1:2:3:4:5:6:7:8:9"],
    ["seven groups without ::", "1:2:3:4:5:6:7"],
    ["two ::", "1::2::3"],
    ["five hex digits", "12345::"],
    ["five digits, value under 0x10000", "00001::"],
    ["five digits in the last group", "1:2:3:4:5:6:7:00008"],
    ["a non-hex digit", "g::"],
    ["a 0x prefix", "0x1::"],
    ["trailing space", "2001:db8::1 "],
    ["leading space", " ::1"],
    ["a prefix length", "::1/128"],
    ["a zone", "fe80::1%eth0"],
    ["an IPv4 address", "198.18.0.1"],
    ["a dotted quad with 256", "::ffff:256.1.1.1"],
    ["a dotted quad with three octets", "::ffff:1.2.3"],
    ["a dotted quad with a leading zero", "::ffff:01.2.3.4"],
    ["a dotted quad not at the end", "::1.2.3.4:1"],
    ["seven groups and a dotted quad", "1:2:3:4:5:6:7:1.2.3.4"],
  ])("rejects %s (%j)", (_, text) => {
    expect(parseIPv6(text)).toBeUndefined();
  });

  it.each([
    ["the RFC 5952 example", [0x20010db8, 0, 1, 0x00010001], "2001:db8::1:1:1"],
    ["the first of equal runs", [0x20010000, 0, 0x00010000, 0], "2001::1:0:0:0"],
    ["the longest run, even when later", [0, 1, 0, 0], "0:0:0:1::"],
    ["::", [0, 0, 0, 0], "::"],
    ["::1", [0, 0, 0, 1], "::1"],
    [
      "no zero group",
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ],
    ["lower case, no leading zeros", [0xabcd0001, 0x00020000, 0, 0], "abcd:1:2::"],
  ])("formats %s", (_, words, text) => {
    expect(formatIPv6(words)).toBe(text);
  });

  // RFC 5952 section 4.2.2: "The symbol '::' MUST NOT be used to shorten just one 16-bit 0 field."
  it.each([
    [
      "alternating zero groups",
      [0x00010000, 0x00010000, 0x00010000, 0x00010000],
      "1:0:1:0:1:0:1:0",
    ],
    [
      "the RFC 5952 4.2.2 example",
      [0x20010db8, 0x00000001, 0x00010001, 0x00010001],
      "2001:db8:0:1:1:1:1:1",
    ],
    [
      "two single zero groups",
      [0x20010db8, 0x00000001, 0x00000001, 0x00010001],
      "2001:db8:0:1:0:1:1:1",
    ],
  ])("formatIPv6 does not shorten a single zero group with :: (%s)", (_, words, text) => {
    expect(formatIPv6(words)).toBe(text);
  });

  it("formatIPv6 reads four words from `offset`", () => {
    const buf = [7, 7, 0x20010db8, 0, 0, 1, 7];
    expect(formatIPv6(buf, 2)).toBe("2001:db8::1");
  });

  it("formatIPv6 prints RFC 5952 text for every address outside ::ffff:0:0/96", () => {
    fc.assert(
      fc.property(words6, (w) => {
        const v = toBig(w);
        fc.pre(v >> 32n !== 0xffffn);
        expect(formatIPv6(w)).toBe(refFormat6(v));
      }),
      { numRuns: 3000 },
    );
  });

  it("formatIPv6 of an IPv4-mapped address prints RFC 5952 text, hex or dotted (section 5)", () => {
    const w = [0, 0, 0xffff, 0xc6120001];
    expect(["::ffff:c612:1", "::ffff:198.18.0.1"]).toContain(formatIPv6(w));
  });

  it("formatIPv6 then parseIPv6 gives back every address (::ffff:0:0/96: the test below)", () => {
    fc.assert(
      fc.property(words6, (w) => {
        fc.pre(toBig(w) >> 32n !== 0xffffn);
        expect(Array.from(parseIPv6(formatIPv6(w)) ?? [])).toEqual(w);
      }),
      { numRuns: 3000 },
    );
  });

  it("formatIPv6 then parseIPv6 gives back IPv4-mapped addresses", () => {
    for (const w of [
      [0, 0, 0xffff, 0],
      [0, 0, 0xffff, 0xc6120001],
      [0, 0, 0xffff, 0xffffffff],
    ]) {
      expect(Array.from(parseIPv6(formatIPv6(w)) ?? []), formatIPv6(w)).toEqual(w);
    }
  });

  it("parseIPv6 agrees with the RFC 4291 reference on generated addresses and junk", () => {
    const junk = fc.stringMatching(/^[0-9a-fA-F:.]{0,24}$/);
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), junk, fc.string()), (text) => {
        const want = refParse6(text);
        const got = parseIPv6(text);
        expect(got === undefined ? undefined : toBig(got)).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });

  it("the parsers never throw", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        parseIPv4(text);
        parseIPv6(text);
        const r = parsePrefix(text);
        expect(typeof r.ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });
});

// ---- prefixes -------------------------------------------------------------------------

describe("parsePrefix / formatPrefix", () => {
  const ok = (text: string, options?: { maskHostBits?: boolean }) => {
    const r = parsePrefix(text, options);
    if (!r.ok) throw new Error(`parsePrefix('${text}') failed: ${r.error}`);
    return { family: r.prefix.family, words: Array.from(r.prefix.words), length: r.prefix.length };
  };
  const error = (text: string, options?: { maskHostBits?: boolean }) => {
    const r = parsePrefix(text, options);
    return r.ok
      ? `accepted as ${formatPrefix(r.prefix.family, r.prefix.words, r.prefix.length)}`
      : r.error;
  };

  it.each([
    ["198.18.0.0/15", 4, [0xc6120000], 15],
    ["198.18.0.1", 4, [0xc6120001], 32],
    ["0.0.0.0/0", 4, [0], 0],
    ["255.255.255.255/32", 4, [0xffffffff], 32],
    ["2001:db8::/32", 6, [0x20010db8, 0, 0, 0], 32],
    ["2001:db8::1", 6, [0x20010db8, 0, 0, 1], 128],
    ["::/0", 6, [0, 0, 0, 0], 0],
    ["2001:db8:8000::/33", 6, [0x20010db8, 0x80000000, 0, 0], 33],
    [
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
      6,
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      128,
    ],
  ])("parses %s", (text, family, words, length) => {
    expect(ok(text)).toEqual({ family, words, length });
  });

  it("parses IPv4-mapped IPv6 prefixes as IPv6", () => {
    expect(ok("::ffff:198.18.0.0/120")).toEqual({
      family: 6,
      words: [0, 0, 0xffff, 0xc6120000],
      length: 120,
    });
    expect(ok("::ffff:0:0/96")).toEqual({ family: 6, words: [0, 0, 0xffff, 0], length: 96 });
  });

  it("refuses host bits past the length, and clears them with maskHostBits", () => {
    expect(error("198.19.0.0/15")).toMatch(/host bits/);
    expect(ok("198.19.0.0/15", { maskHostBits: true })).toEqual({
      family: 4,
      words: [0xc6120000],
      length: 15,
    });
    expect(error("255.255.255.255/1")).toMatch(/host bits/);
    expect(ok("255.255.255.255/1", { maskHostBits: true }).words).toEqual([0x80000000]);
    expect(ok("198.18.0.1/0", { maskHostBits: true }).words).toEqual([0]);
    expect(error("2001:db8::1/32")).toMatch(/host bits/);
    expect(ok("2001:db8::1/32", { maskHostBits: true }).words).toEqual([0x20010db8, 0, 0, 0]);
    expect(error("2001:db8:0:0:8000::/64")).toMatch(/host bits/);
    expect(ok("2001:db8:0:0:8000::/64", { maskHostBits: true }).words).toEqual([
      0x20010db8, 0, 0, 0,
    ]);
    expect(error("::1/127")).toMatch(/host bits/);
    expect(ok("::1/128", { maskHostBits: true }).words).toEqual([0, 0, 0, 1]);
    expect(ok("198.18.0.0/15", { maskHostBits: false }).length).toBe(15);
  });

  it.each([
    ["IPv4 length 33", "198.18.0.0/33"],
    ["IPv6 length 129", "2001:db8::/129"],
    ["length -1", "198.18.0.0/-1"],
    ["a leading zero in the length", "198.18.0.0/015"],
    ["length 00", "0.0.0.0/00"],
    ["a fractional length", "198.18.0.0/1.5"],
    ["an empty length", "198.18.0.0/"],
    ["a space before the length", "198.18.0.0/ 15"],
    ["a space after the length", "198.18.0.0/15 "],
    ["a sign", "198.18.0.0/+15"],
    ["a hex length", "198.18.0.0/0xf"],
    ["an exponent", "0.0.0.0/1e1"],
    ["two lengths", "198.18.0.0/15/16"],
    ["a huge length", "198.18.0.0/1000"],
    ["no address", "/8"],
    ["nothing", ""],
    ["a word", "router/8"],
    ["three octets", "198.18.0/15"],
    ["an octet of 256", "198.256.0.0/16"],
    ["a leading zero in an octet", "198.018.0.0/16"],
    ["an address and a port", "198.18.0.1:80"],
    ["bad IPv6", "2001:db8:::/32"],
    ["five hex digits", "12345::/16"],
  ])("rejects %s (%j)", (_, text) => {
    expect(parsePrefix(text).ok).toBe(false);
    expect(parsePrefix(text, { maskHostBits: true }).ok).toBe(false);
  });

  it("formats prefixes", () => {
    expect(formatPrefix(4, [0xc6120000], 15)).toBe("198.18.0.0/15");
    expect(formatPrefix(4, [0], 0)).toBe("0.0.0.0/0");
    expect(formatPrefix(6, [0x20010db8, 0, 0, 0], 32)).toBe("2001:db8::/32");
    expect(formatPrefix(6, [0, 0, 0, 0], 0)).toBe("::/0");
  });

  it("formatPrefix then parsePrefix gives back every IPv4 prefix", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 32 }), (a, length) => {
        const words = [(a & mask4(length)) >>> 0];
        expect(ok(formatPrefix(4, words, length))).toEqual({ family: 4, words, length });
      }),
      { numRuns: 2000 },
    );
  });

  it("formatPrefix then parsePrefix gives back every IPv6 prefix (IPv4-mapped: above)", () => {
    fc.assert(
      fc.property(words6, fc.integer({ min: 0, max: 128 }), (w, length) => {
        const words = w.map((x, i) => (x & mask6Word(length, i)) >>> 0);
        fc.pre(toBig(words) >> 32n !== 0xffffn);
        expect(ok(formatPrefix(6, words, length))).toEqual({ family: 6, words, length });
      }),
      { numRuns: 2000 },
    );
  });

  it("hands out fresh words each time", () => {
    const a = parsePrefix("198.18.0.0/15");
    const b = parsePrefix("198.18.0.0/15");
    if (!a.ok || !b.ok) throw new Error("parse failed");
    a.prefix.words[0] = 1;
    expect(b.prefix.words[0]).toBe(0xc6120000);
    const c = parsePrefix("198.18.0.0/15");
    expect(c.ok && c.prefix.words[0]).toBe(0xc6120000);
  });
});

// ---- guards ---------------------------------------------------------------------------

describe("checkPrefix4 / checkPrefix6 / checkNextHop", () => {
  it("accept valid arguments", () => {
    expect(() => checkPrefix4(0, 0)).not.toThrow();
    expect(() => checkPrefix4(0xc6120000, 15)).not.toThrow();
    expect(() => checkPrefix4(0xffffffff, 32)).not.toThrow();
    expect(() => checkPrefix6([0, 0, 0, 0], 0)).not.toThrow();
    expect(() => checkPrefix6(new Uint32Array([0x20010db8, 0, 0, 0]), 32)).not.toThrow();
    expect(() => checkPrefix6([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 128)).not.toThrow();
    expect(() => checkNextHop(0)).not.toThrow();
    expect(() => checkNextHop(MAX_NEXT_HOP)).not.toThrow();
  });

  it.each([
    [0x0a000001, 8],
    [1, 0],
    [0, -1],
    [0, 33],
    [0, 1.5],
    [0, Number.NaN],
    [-1, 32],
    [2 ** 32, 32],
    [0.5, 32],
  ])("checkPrefix4(%s, %s) throws RangeError", (p, l) => {
    expect(() => checkPrefix4(p, l)).toThrow(RangeError);
  });

  it.each([
    [[0, 0, 0, 1], 127],
    [[0x20010db8, 1, 0, 0], 32],
    [[0x20010db8, 0x8000, 0, 0], 48],
    [[0, 0, 0, 0], 129],
    [[0, 0, 0, 0], -1],
    [[0, 0, 0], 0],
    [[], 0],
    [[2 ** 32, 0, 0, 0], 32],
    [[-1, 0, 0, 0], 32],
    [[0, 0, 0, 0.5], 128],
  ])("checkPrefix6(%j, %s) throws RangeError", (p, l) => {
    expect(() => checkPrefix6(p, l)).toThrow(RangeError);
  });

  it.each([-1, NO_ROUTE, 0x10000, 0.5, Number.NaN])("checkNextHop(%s) throws RangeError", (nh) => {
    expect(() => checkNextHop(nh)).toThrow(RangeError);
  });

  it("wordsOf and bitsOf", () => {
    expect([wordsOf(4), wordsOf(6), bitsOf(4), bitsOf(6)]).toEqual([1, 4, 32, 128]);
  });
});

// ---- RouteListBuilder ------------------------------------------------------------------

describe("RouteListBuilder", () => {
  it.each([0, 1, 3])(
    "grows from capacity %s through many doublings, keeping every IPv4 route",
    (cap) => {
      const b = new RouteListBuilder(4, cap);
      for (let i = 0; i < 1000; i++) b.push([i * 256], 24, i % (MAX_NEXT_HOP + 1));
      expect(b.count).toBe(1000);
      const list = b.build();
      expect(list.family).toBe(4);
      expect(list.count).toBe(1000);
      expect(list.prefixes.length).toBe(1000);
      expect(list.lengths.length).toBe(1000);
      expect(list.nextHops.length).toBe(1000);
      for (let i = 0; i < 1000; i++) {
        expect([list.prefixes[i], list.lengths[i], list.nextHops[i]]).toEqual([i * 256, 24, i]);
      }
    },
  );

  it("keeps IPv6 routes across growth, reading words from `offset`", () => {
    const b = new RouteListBuilder(6, 2);
    const packed = new Uint32Array(4 * 300);
    for (let i = 0; i < 300; i++) packed.set([0x20010db8, i, i * 3, i * 7], i * 4);
    for (let i = 0; i < 300; i++) b.push(packed, 64 + (i % 65), MAX_NEXT_HOP - i, i * 4);
    const list = b.build();
    expect(list.family).toBe(6);
    expect(list.count).toBe(300);
    expect(list.prefixes.length).toBe(1200);
    expect(Array.from(list.prefixes)).toEqual(Array.from(packed));
    for (let i = 0; i < 300; i++) {
      expect([list.lengths[i], list.nextHops[i]]).toEqual([64 + (i % 65), MAX_NEXT_HOP - i]);
    }
  });

  it("is itself a RouteList whose count grows with it", () => {
    const b = new RouteListBuilder(4, 4);
    expect(b.count).toBe(0);
    b.push([0xc6120000], 15, 1);
    expect(b.count).toBe(1);
    expect(b.prefixes.length).toBeGreaterThanOrEqual(1);
    expect([b.prefixes[0], b.lengths[0], b.nextHops[0]]).toEqual([0xc6120000, 15, 1]);
  });

  it("build shares no storage with the builder", () => {
    const b = new RouteListBuilder(4, 8);
    b.push([0xc6120000], 15, 1);
    b.push([0x0a000000], 8, 2);
    const first = b.build();
    b.prefixes[0] = 0;
    b.lengths[0] = 0;
    b.nextHops[0] = 0;
    b.push([0xc0000000], 2, 3);
    expect([first.count, ...first.prefixes, ...first.lengths, ...first.nextHops]).toEqual([
      2, 0xc6120000, 0x0a000000, 15, 8, 1, 2,
    ]);
    const second = b.build();
    second.nextHops[2] = 9;
    expect(b.nextHops[2]).toBe(3);
    expect(second.count).toBe(3);
  });

  it("builds an empty list", () => {
    const list = new RouteListBuilder(6).build();
    expect(list.count).toBe(0);
    expect(list.prefixes.length).toBe(0);
    expect(list.lengths.length).toBe(0);
    expect(list.nextHops.length).toBe(0);
  });
});
