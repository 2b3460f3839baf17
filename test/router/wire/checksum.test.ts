/**
 * The Internet checksum (RFC 1071), its incremental update (RFC 1624) and
 * the pseudo-header sums, held against an independent reference: the one's
 * complement sum computed as the plain sum of the words modulo 0xFFFF (the
 * arithmetic characterisation, no end-around carries), and pseudo-headers
 * written out octet by octet.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checksumOk,
  foldSum,
  internetChecksum,
  ipv4PseudoSum,
  ipv4PseudoSumAt,
  ipv6PseudoSum,
  ipv6PseudoSumAt,
  onesSum,
  updateChecksum16,
  updateChecksum32,
} from "../../../router/wire/checksum.ts";
import {
  emitIpv4,
  fillIpv4Checksum,
  type Ipv4Repr,
  ipv4Checksum,
  ipv4ChecksumOk,
  ipv4DecrementTtl,
  setIpv4Dst,
  setIpv4Src,
  setIpv4Ttl,
} from "../../../router/wire/ipv4.ts";
import { embed, hex, ipv4Addr, ipv4Repr, ipv6Addr, u8, u16, v4, v6 } from "./util.ts";

/** The checksum by arithmetic: the word sum modulo 0xFFFF, -0 only for all-zero data. */
function refChecksum(bytes: ArrayLike<number>, from = 0, to = bytes.length): number {
  let sum = 0;
  for (let i = from; i < to; i += 2) sum += bytes[i] * 256 + (i + 1 < to ? bytes[i + 1] : 0);
  if (sum === 0) return 0xffff; // the one's complement sum is +0: its complement is 0xFFFF
  const ones = sum % 0xffff === 0 ? 0xffff : sum % 0xffff; // a non-zero multiple of 0xFFFF is -0
  return 0xffff - ones;
}

/** An IPv4 header of random fields, with a correct checksum. */
const ipv4Header = ipv4Repr().map((repr) => {
  const buf = new Uint8Array(60);
  const n = emitIpv4(repr, buf, 0);
  return buf.slice(0, n);
});

describe("RFC 1071 checksum", () => {
  it("matches the worked example of RFC 1071 section 3", () => {
    // 0001 + f203 + f4f5 + f6f7 = 2ddf0 -> ddf0 + 2 = ddf2; checksum ~ddf2 = 220d.
    const data = hex("00 01 f2 03 f4 f5 f6 f7");
    expect(onesSum(data, 0, 8)).toBe(0xddf2);
    expect(internetChecksum(data, 0, 8)).toBe(0x220d);
    expect(refChecksum(data)).toBe(0x220d);
  });

  it("verifies a real captured IPv4 header and recomputes its checksum", () => {
    // 192.168.0.1 -> 192.168.0.199, UDP, TTL 64, DF; checksum b861 (a classic capture).
    const header = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    expect(checksumOk(header, 0, 20)).toBe(true);
    expect(ipv4ChecksumOk(header, 0)).toBe(true);
    const zeroed = header.slice();
    zeroed[10] = 0;
    zeroed[11] = 0;
    expect(internetChecksum(zeroed, 0, 20)).toBe(0xb861);
  });

  it("computes the checksum of a header written out here, by hand and by the reference", () => {
    // 198.18.0.1 -> 198.19.0.2, ICMP, TTL 64, DF, id 0x1c46, total length 84:
    // 4500 + 0054 + 1c46 + 4000 + 4001 + c612 + 0001 + c613 + 0002 = 26dc3
    // -> 6dc3 + 2 = 6dc5; checksum ~6dc5 = 923a.
    const header = hex("4500 0054 1c46 4000 4001 0000 c612 0001 c613 0002");
    expect(internetChecksum(header, 0, 20)).toBe(0x923a);
    expect(refChecksum(header)).toBe(0x923a);
    const repr: Ipv4Repr = {
      dscp: 0,
      ecn: 0,
      identification: 0x1c46,
      dontFragment: true,
      moreFragments: false,
      reservedFlag: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 1,
      src: v4("198.18.0.1"),
      dst: v4("198.19.0.2"),
      options: new Uint8Array(0),
      payloadLength: 64,
    };
    const out = new Uint8Array(20);
    emitIpv4(repr, out, 0);
    header[10] = 0x92;
    header[11] = 0x3a;
    expect(out).toEqual(header);
  });

  it("agrees with the reference on random data, at any offset, odd lengths included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 9 }), (data, pre) => {
        const { buf, off } = embed(data, pre);
        expect(internetChecksum(buf, off, data.length)).toBe(refChecksum(data));
      }),
      { numRuns: 3000 },
    );
  });

  it("handles long data (past the folding interval) like the reference", () => {
    const data = new Uint8Array(70_001).fill(0xff);
    for (let i = 0; i < data.length; i += 7) data[i] = i & 0xff;
    expect(internetChecksum(data, 0, data.length)).toBe(refChecksum(data));
  });

  it("adds up running sums over even-length pieces like one sum over the whole", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat({ max: 100 }), { maxLength: 4 }),
        (data, cuts) => {
          const points = [
            ...new Set(cuts.map((c) => Math.min(2 * c, data.length - (data.length % 2)))),
          ];
          points.sort((a, b) => a - b);
          let sum = 0;
          let from = 0;
          for (const p of [...points, data.length]) {
            sum = onesSum(data, from, p - from, sum);
            from = p;
          }
          expect(sum).toBe(onesSum(data, 0, data.length));
        },
      ),
    );
  });

  it("makes data with its checksum inserted verify", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 100 }), (data) => {
        const even = data.slice(0, data.length & ~1);
        even[0] = 0;
        even[1] = 0;
        const c = internetChecksum(even, 0, even.length);
        even[0] = c >>> 8;
        even[1] = c & 0xff;
        expect(checksumOk(even, 0, even.length)).toBe(true);
      }),
    );
  });

  it("folds sums of any size", () => {
    expect(foldSum(0)).toBe(0);
    expect(foldSum(0xffff)).toBe(0xffff);
    expect(foldSum(0x10000)).toBe(1);
    expect(foldSum(0x1fffe)).toBe(0xffff);
    expect(foldSum(2 ** 40 + 5)).toBe(foldSum(foldSum(2 ** 40) + 5));
    // The all-zero data sums to +0 and its checksum is 0xFFFF.
    expect(internetChecksum(new Uint8Array(8), 0, 8)).toBe(0xffff);
  });
});

describe("RFC 1624 incremental update", () => {
  it("gives the RFC's example answer 0x0000 (where eqn. 2 gave 0xFFFF)", () => {
    // RFC 1624 section 4: HC = 0xDD2F, m = 0x5555, m' = 0x3285 -> HC' = 0x0000.
    expect(updateChecksum16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it("equals a full recomputation for random headers and random TTLs", () => {
    fc.assert(
      fc.property(ipv4Header, u8, (header, ttl) => {
        const inc = header.slice();
        setIpv4Ttl(inc, 0, ttl);
        const full = inc.slice();
        fillIpv4Checksum(full, 0);
        expect(ipv4Checksum(inc, 0)).toBe(ipv4Checksum(full, 0));
        expect(ipv4ChecksumOk(inc, 0)).toBe(true);
        expect(ipv4Checksum(inc, 0)).toBe(
          refChecksum(
            inc.map((b, i) => (i === 10 || i === 11 ? 0 : b)),
            0,
            inc.length,
          ),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it("decrements the TTL of random headers as a full recomputation would", () => {
    fc.assert(
      fc.property(ipv4Header, (header) => {
        const before = header[8];
        const inc = header.slice();
        const after = ipv4DecrementTtl(inc, 0);
        if (before === 0) {
          expect(after).toBe(0);
          expect(inc).toEqual(header);
          return;
        }
        expect(after).toBe(before - 1);
        expect(inc[8]).toBe(before - 1);
        const full = inc.slice();
        fillIpv4Checksum(full, 0);
        expect(inc).toEqual(full);
      }),
      { numRuns: 3000 },
    );
  });

  /** A header whose correct checksum is 0x0000, found by choosing its identification. */
  function headerWithChecksum(ttl: number): Uint8Array {
    const header = hex("4500 0054 0000 0000 0011 0000 c612 0001 c613 0002");
    header[8] = ttl;
    // Sum of the rest; the identification word x must bring it to 0xFFFF, so that ~sum = 0.
    const rest = onesSum(header, 0, 20);
    const x = 0xffff - rest;
    header[4] = x >>> 8;
    header[5] = x & 0xff;
    expect(onesSum(header, 0, 20)).toBe(0xffff);
    return header; // checksum field 0x0000 is correct: ~0xFFFF
  }

  it("reaches a checksum of 0x0000 exactly when a full recomputation does", () => {
    // After: checksum 0x0000 with TTL 63. Before: the same header with TTL 64.
    const after = headerWithChecksum(63);
    expect(
      internetChecksum(
        after.map((b, i) => (i === 10 || i === 11 ? 0 : b)),
        0,
        20,
      ),
    ).toBe(0);
    const before = after.slice();
    before[8] = 64;
    fillIpv4Checksum(before, 0);
    expect(ipv4Checksum(before, 0)).not.toBe(0);
    const inc = before.slice();
    ipv4DecrementTtl(inc, 0);
    expect(ipv4Checksum(inc, 0)).toBe(0x0000);
    expect(inc).toEqual(after);
  });

  it("leaves a checksum of 0x0000 for the right value when the TTL changes", () => {
    const before = headerWithChecksum(1);
    expect(ipv4Checksum(before, 0)).toBe(0);
    for (const ttl of [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]) {
      const inc = before.slice();
      setIpv4Ttl(inc, 0, ttl);
      const full = inc.slice();
      fillIpv4Checksum(full, 0);
      expect(ipv4Checksum(inc, 0)).toBe(ipv4Checksum(full, 0));
      // eqn. 3 never yields 0xFFFF for data that is not all zero (the IPv4 version is 4).
      expect(ipv4Checksum(inc, 0)).not.toBe(0xffff);
    }
  });

  it("equals a full recomputation for any word of random non-zero data, 0x0000 and 0xFFFF included", () => {
    const word = fc.oneof(u16, fc.constantFrom(0x0000, 0xffff, 0x0001, 0xfffe, 0x8000));
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        word,
        (words, at, next) => {
          const i = at % words.length;
          const data = new Uint8Array(words.length * 2);
          words.forEach((w, k) => {
            data[2 * k] = w >>> 8;
            data[2 * k + 1] = w & 0xff;
          });
          const changed = data.slice();
          changed[2 * i] = next >>> 8;
          changed[2 * i + 1] = next & 0xff;
          // The precondition: data not all zero, before and after (true of any IPv4 header).
          fc.pre(data.some((b) => b !== 0) && changed.some((b) => b !== 0));
          const hc = internetChecksum(data, 0, data.length);
          expect(updateChecksum16(hc, words[i], next)).toBe(
            internetChecksum(changed, 0, changed.length),
          );
          expect(updateChecksum16(hc, words[i], next)).toBe(refChecksum(changed));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("answers -0 (0x0000) for all-zero data, the one case outside its precondition", () => {
    // Full recomputation gives 0xFFFF for all-zero data; eqn. 3 gives 0x0000. No IPv4 header is all zero.
    expect(internetChecksum(new Uint8Array(4), 0, 4)).toBe(0xffff);
    expect(updateChecksum16(0xffff, 0, 0)).toBe(0x0000);
  });

  it("updates a changed address (a 32-bit word) as a full recomputation would", () => {
    fc.assert(
      fc.property(ipv4Header, ipv4Addr, ipv4Addr, (header, src, dst) => {
        const inc = header.slice();
        setIpv4Src(inc, 0, src);
        setIpv4Dst(inc, 0, dst);
        const full = inc.slice();
        fillIpv4Checksum(full, 0);
        expect(inc).toEqual(full);
      }),
    );
    expect(updateChecksum32(0x1234, 0, 0)).toBe(0x1234);
  });
});

describe("pseudo-header sums", () => {
  it("IPv4: equals the sum of the 12-octet pseudo-header written out", () => {
    fc.assert(
      fc.property(ipv4Addr, ipv4Addr, u8, u16, (src, dst, protocol, length) => {
        const ph = new Uint8Array(12);
        const dv = new DataView(ph.buffer);
        dv.setUint32(0, src);
        dv.setUint32(4, dst);
        ph[9] = protocol;
        dv.setUint16(10, length);
        const want = onesSum(ph, 0, 12);
        expect(foldSum(ipv4PseudoSum(src, dst, protocol) + length)).toBe(want);
        const ip = new Uint8Array(20);
        const ipv = new DataView(ip.buffer);
        ip[9] = protocol;
        ipv.setUint32(12, src);
        ipv.setUint32(16, dst);
        expect(foldSum(ipv4PseudoSumAt(ip, 0) + length)).toBe(want);
      }),
    );
  });

  it("IPv6: equals the sum of the 40-octet pseudo-header written out", () => {
    fc.assert(
      fc.property(ipv6Addr, ipv6Addr, u8, fc.nat(), (src, dst, nextHeader, length) => {
        const ph = new Uint8Array(40);
        const dv = new DataView(ph.buffer);
        for (let i = 0; i < 4; i++) {
          dv.setUint32(4 * i, src[i]);
          dv.setUint32(16 + 4 * i, dst[i]);
        }
        dv.setUint32(32, length);
        ph[39] = nextHeader;
        const want = onesSum(ph, 0, 40);
        expect(foldSum(ipv6PseudoSum(src, dst, nextHeader) + length)).toBe(want);
        const ip = new Uint8Array(44);
        ip.set(ph.subarray(0, 32), 12);
        expect(foldSum(ipv6PseudoSumAt(ip, 4, nextHeader) + length)).toBe(want);
      }),
    );
  });

  it("IPv6: a known value", () => {
    // 2001:db8::1 -> 2001:db8::2, ICMPv6, length 8: 2001+0db8+1 + 2001+0db8+2 + 8 + 3a = 5bb7.
    const sum = foldSum(ipv6PseudoSum(v6("2001:db8::1"), v6("2001:db8::2"), 58) + 8);
    expect(sum).toBe(0x5bb7);
  });
});
