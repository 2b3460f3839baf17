/** IPv4 headers (RFC 791): validation, accessors, TTL decrement, round trips, truncation, fuzz. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { internetChecksum } from "../../../router/wire/checksum.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  checkIpv4,
  emitIpv4,
  fillIpv4Checksum,
  IPV4_FLAG_DF,
  Ipv4Error,
  type Ipv4Repr,
  ipv4Checksum,
  ipv4ChecksumOk,
  ipv4DecrementTtl,
  ipv4DontFragment,
  ipv4Dscp,
  ipv4Dst,
  ipv4Ecn,
  ipv4FlagsFragment,
  ipv4FragmentOffset,
  ipv4HasOptions,
  ipv4HeaderLen,
  ipv4Identification,
  ipv4IsBroadcast,
  ipv4IsFragment,
  ipv4IsMulticast,
  ipv4MoreFragments,
  ipv4PayloadLen,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLen,
  ipv4Ttl,
  ipv4Version,
  NO_OPTIONS,
  parseIpv4,
} from "../../../router/wire/ipv4.ts";
import {
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  ipv4Repr,
  parseEmbedded,
  v4,
} from "./util.ts";

/** Header and payload of a repr, the payload filled with a pattern. */
function packet(repr: Ipv4Repr): Uint8Array {
  return emitted((buf, off) => {
    const hl = emitIpv4(repr, buf, off);
    for (let i = 0; i < repr.payloadLength; i++) buf[off + hl + i] = (i * 7 + 3) & 0xff;
    return hl + repr.payloadLength;
  }, 70_000);
}

const base: Ipv4Repr = {
  dscp: 0,
  ecn: 0,
  identification: 0x1234,
  dontFragment: true,
  moreFragments: false,
  reservedFlag: false,
  fragmentOffset: 0,
  ttl: 64,
  protocol: IpProtocol.Udp,
  src: v4("198.18.0.1"),
  dst: v4("198.19.255.254"),
  options: NO_OPTIONS,
  payloadLength: 12,
};

describe("IPv4", () => {
  it("parses a captured header", () => {
    const wire = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    const p = new Uint8Array(0x73);
    p.set(wire);
    const r = parseEmbedded(p, parseIpv4);
    expect(r).toEqual({
      ok: true,
      repr: {
        dscp: 0,
        ecn: 0,
        identification: 0,
        dontFragment: true,
        moreFragments: false,
        reservedFlag: false,
        fragmentOffset: 0,
        ttl: 64,
        protocol: IpProtocol.Udp,
        src: v4("192.168.0.1"),
        dst: v4("192.168.0.199"),
        options: new Uint8Array(0),
        payloadLength: 0x73 - 20,
      },
    });
  });

  it("reads every field in place", () => {
    fc.assert(
      fc.property(ipv4Repr(), (repr) => {
        const { buf, off } = embed(packet(repr));
        const hl = 20 + repr.options.length;
        expect(ipv4Version(buf, off)).toBe(4);
        expect(ipv4HeaderLen(buf, off)).toBe(hl);
        expect(ipv4HasOptions(buf, off)).toBe(repr.options.length > 0);
        expect(ipv4Dscp(buf, off)).toBe(repr.dscp);
        expect(ipv4Ecn(buf, off)).toBe(repr.ecn);
        expect(ipv4TotalLen(buf, off)).toBe(hl + repr.payloadLength);
        expect(ipv4PayloadLen(buf, off)).toBe(repr.payloadLength);
        expect(ipv4Identification(buf, off)).toBe(repr.identification);
        expect(ipv4DontFragment(buf, off)).toBe(repr.dontFragment);
        expect(ipv4MoreFragments(buf, off)).toBe(repr.moreFragments);
        expect(ipv4FragmentOffset(buf, off)).toBe(repr.fragmentOffset);
        expect(ipv4IsFragment(buf, off)).toBe(repr.moreFragments || repr.fragmentOffset !== 0);
        expect(ipv4FlagsFragment(buf, off) & 0x8000).toBe(repr.reservedFlag ? 0x8000 : 0);
        expect(ipv4Ttl(buf, off)).toBe(repr.ttl);
        expect(ipv4Protocol(buf, off)).toBe(repr.protocol);
        expect(ipv4Src(buf, off)).toBe(repr.src);
        expect(ipv4Dst(buf, off)).toBe(repr.dst);
        expect(ipv4ChecksumOk(buf, off)).toBe(true);
      }),
    );
  });

  it("round-trips reprs and packets, padding past the total length ignored", () => {
    fc.assert(
      fc.property(ipv4Repr(300), fc.nat({ max: 30 }), (repr, pad) => {
        const wire = packet(repr);
        const padded = new Uint8Array(wire.length + pad).fill(0xee);
        padded.set(wire);
        const r = parseEmbedded(padded, parseIpv4);
        expect(r).toEqual({ ok: true, repr });
        if (!r.ok) return;
        const again = emitted((buf, off) => emitIpv4(r.repr, buf, off));
        expect(again).toEqual(wire.subarray(0, again.length));
      }),
    );
  });

  it("fails every truncation, options and payload included", () => {
    const options = hex("94 04 00 00  01 01 01 00"); // Router Alert, NOPs, EOL
    for (const repr of [base, { ...base, options }, { ...base, payloadLength: 0 }]) {
      expectEveryTruncationFails(packet(repr), checkIpv4, parseIpv4);
    }
  });

  it("reports each malformation and where it is", () => {
    const good = packet(base);
    const variant = (edit: (p: Uint8Array) => void, fix = true) => {
      const p = good.slice();
      edit(p);
      if (fix && p[0] >>> 4 === 4 && (p[0] & 15) >= 5) fillIpv4Checksum(p, 0);
      return parseEmbedded(p, parseIpv4);
    };
    expect(variant(() => {})).toMatchObject({ ok: true });
    expect(variant((p) => (p[0] = 0x65))).toEqual({
      ok: false,
      error: Ipv4Error.BadVersion,
      at: 0,
    });
    expect(variant((p) => (p[0] = 0x44))).toEqual({
      ok: false,
      error: Ipv4Error.BadHeaderLength,
      at: 0,
    });
    expect(variant((p) => (p[0] = 0x4f))).toEqual({
      ok: false,
      error: Ipv4Error.Truncated,
      at: 32,
    });
    expect(variant((p) => (p[3] = 19))).toEqual({
      ok: false,
      error: Ipv4Error.BadTotalLength,
      at: 2,
    });
    expect(variant((p) => (p[3] = 33))).toEqual({ ok: false, error: Ipv4Error.Truncated, at: 32 });
    expect(variant((p) => (p[12] ^= 1), false)).toEqual({
      ok: false,
      error: Ipv4Error.BadChecksum,
      at: 10,
    });
    expect(variant((p) => (p[11] ^= 0x80), false)).toEqual({
      ok: false,
      error: Ipv4Error.BadChecksum,
      at: 10,
    });
    expect(parseIpv4(good, 0, 19)).toEqual({ ok: false, error: Ipv4Error.Truncated, at: 19 });
  });

  it("never throws on random octets, nor on random headers with a valid checksum", () => {
    fuzz(checkIpv4, parseIpv4, { maxLength: 80 });
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 80 }),
        fc.nat({ max: 10 }),
        (body, cut) => {
          const p = body.slice();
          p[0] = 0x40 | (p[0] & 15);
          const hl = (p[0] & 15) * 4;
          if (hl >= 20 && hl <= p.length) {
            p[10] = 0;
            p[11] = 0;
            const c = internetChecksum(p, 0, hl);
            p[10] = c >>> 8;
            p[11] = c & 0xff;
          }
          const len = Math.max(0, p.length - cut);
          const code = checkIpv4(p, 0, len);
          const r = parseIpv4(p, 0, len);
          expect(r.ok).toBe(code === 0);
          if (code === 0) expect(r.ok && r.repr.payloadLength + hl).toBe((p[2] << 8) | p[3]);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("decrements the TTL down to 0 and no further", () => {
    const { buf, off } = embed(packet({ ...base, ttl: 2 }));
    expect(ipv4DecrementTtl(buf, off)).toBe(1);
    expect(checkIpv4(buf, off, 32)).toBe(0);
    expect(ipv4DecrementTtl(buf, off)).toBe(0);
    expect(checkIpv4(buf, off, 32)).toBe(0);
    const before = buf.slice();
    expect(ipv4DecrementTtl(buf, off)).toBe(0);
    expect(buf).toEqual(before);
    expect(ipv4Checksum(buf, off)).toBe(ipv4Checksum(packet({ ...base, ttl: 0 }), 0));
  });

  it("classifies addresses", () => {
    expect(ipv4IsMulticast(v4("224.0.0.5"))).toBe(true);
    expect(ipv4IsMulticast(v4("239.255.255.255"))).toBe(true);
    expect(ipv4IsMulticast(v4("240.0.0.1"))).toBe(false);
    expect(ipv4IsMulticast(v4("198.18.0.1"))).toBe(false);
    expect(ipv4IsBroadcast(0xffffffff)).toBe(true);
    expect(IPV4_FLAG_DF).toBe(0x4000);
  });

  it("refuses to emit what it cannot encode", () => {
    const buf = new Uint8Array(100);
    expect(() => emitIpv4({ ...base, options: new Uint8Array(3) }, buf, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...base, options: new Uint8Array(44) }, buf, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...base, payloadLength: 65516 }, buf, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...base, ttl: 256 }, buf, 0)).toThrow(RangeError);
    expect(() => emitIpv4(base, buf, 81)).toThrow(RangeError);
    expect(emitIpv4({ ...base, payloadLength: 65515 }, buf, 80)).toBe(20);
  });
});
