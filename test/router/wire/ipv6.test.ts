/**
 * IPv6 headers (RFC 8200) and the extension-header walk: valid chains of
 * every kind, truncated chains, chains too long (a self-referencing
 * Destination Options "loop"), Hop-by-Hop out of place, fragments; round
 * trips, truncation at every offset and fuzz.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  checkIpv6,
  emitIpv6,
  IPV6_MAX_EXT_HEADERS,
  Ipv6Error,
  type Ipv6ExtHeader,
  type Ipv6Repr,
  ipv6AuthHeader,
  ipv6DecrementHopLimit,
  ipv6Dst,
  ipv6DstEquals,
  ipv6DstIsMulticast,
  ipv6FlowLabel,
  ipv6FragmentHeader,
  ipv6FragmentId,
  ipv6FragmentOffset,
  ipv6HopLimit,
  ipv6IsExtHeader,
  ipv6MoreFragments,
  ipv6NextHeader,
  ipv6OptionsHeader,
  ipv6PayloadLen,
  ipv6ReprHeaderLen,
  ipv6RoutingHeader,
  ipv6Src,
  ipv6SrcEquals,
  ipv6SrcIsLinkLocal,
  ipv6SrcIsUnspecified,
  ipv6TrafficClass,
  ipv6Version,
  ipv6WalkChain,
  newIpv6Chain,
  parseIpv6,
  setIpv6Dst,
  setIpv6HopLimit,
  setIpv6Src,
} from "../../../router/wire/ipv6.ts";
import {
  bytes,
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  ipv6Addr,
  parseEmbedded,
  u8,
  u32,
  v6,
} from "./util.ts";

const SRC = v6("2001:db8::1");
const DST = v6("2001:db8:1::2");

function repr(extensions: Ipv6ExtHeader[], protocol: number, payloadLength: number): Ipv6Repr {
  return {
    trafficClass: 0,
    flowLabel: 0x12345,
    hopLimit: 64,
    src: SRC,
    dst: DST,
    extensions,
    protocol,
    payloadLength,
  };
}

/** The whole packet of a repr, its upper-layer payload a pattern. */
function packet(r: Ipv6Repr): Uint8Array {
  return emitted((buf, off) => {
    const hl = emitIpv6(r, buf, off);
    for (let i = 0; i < r.payloadLength; i++) buf[off + hl + i] = (i * 13 + 1) & 0xff;
    return hl + r.payloadLength;
  }, 70_000);
}

function walk(p: Uint8Array, len = p.length) {
  const { buf, off } = embed(p);
  const chain = newIpv6Chain();
  const error = ipv6WalkChain(buf, off, len, chain);
  return { error, chain };
}

const upper = u8.filter((p) => !ipv6IsExtHeader(p));
const middleHeader: fc.Arbitrary<Ipv6ExtHeader> = fc.oneof(
  bytes(30).map((o) => ipv6OptionsHeader(IpProtocol.DestinationOptions, o)),
  fc.tuple(u8, u8, bytes(40)).map(([t, s, d]) => ipv6RoutingHeader(t, s, d)),
  fc.tuple(u32, fc.boolean()).map(([id, m]) => ipv6FragmentHeader(0, m, id)),
  fc.tuple(u32, u32, bytes(20)).map(([spi, seq, icv]) => ipv6AuthHeader(spi, seq, icv)),
);
/** A chain the walk follows to its end: an optional Hop-by-Hop first, then others, maybe a non-first fragment last. */
const chainRepr: fc.Arbitrary<Ipv6Repr> = fc
  .record({
    trafficClass: u8,
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    hopLimit: u8,
    src: ipv6Addr,
    dst: ipv6Addr,
    hbh: fc.option(bytes(20).map((o) => ipv6OptionsHeader(IpProtocol.HopByHop, o))),
    middle: fc.array(middleHeader, { maxLength: 5 }),
    lastFragment: fc.option(
      fc
        .tuple(fc.integer({ min: 1, max: 0x1fff }), fc.boolean(), u32)
        .map(([o, m, id]) => ipv6FragmentHeader(o, m, id)),
    ),
    payloadLength: fc.integer({ min: 0, max: 300 }),
  })
  .chain(({ hbh, middle, lastFragment, ...rest }) =>
    (lastFragment === null ? upper : u8).map(
      (protocol): Ipv6Repr => ({
        ...rest,
        extensions: [
          ...(hbh === null ? [] : [hbh]),
          ...middle,
          ...(lastFragment === null ? [] : [lastFragment]),
        ],
        protocol,
      }),
    ),
  );

describe("IPv6 fixed header", () => {
  it("parses an echo request header written out by hand", () => {
    // 2001:db8::1 -> 2001:db8::2, ICMPv6, hop limit 64, 16 octets of payload.
    const p = hex(`
      6000 0000 0010 3a40
      2001 0db8 0000 0000 0000 0000 0000 0001
      2001 0db8 0000 0000 0000 0000 0000 0002
      8000 0000 0001 0001 0001 0203 0405 0607`);
    const r = parseEmbedded(p, parseIpv6);
    expect(r).toEqual({
      ok: true,
      repr: {
        trafficClass: 0,
        flowLabel: 0,
        hopLimit: 64,
        src: v6("2001:db8::1"),
        dst: v6("2001:db8::2"),
        extensions: [],
        protocol: IpProtocol.Icmpv6,
        payloadLength: 16,
      },
    });
  });

  it("reads and writes fields in place", () => {
    fc.assert(
      fc.property(chainRepr, ipv6Addr, ipv6Addr, (r, a, b) => {
        const { buf, off } = embed(packet(r));
        expect(ipv6Version(buf, off)).toBe(6);
        expect(ipv6TrafficClass(buf, off)).toBe(r.trafficClass);
        expect(ipv6FlowLabel(buf, off)).toBe(r.flowLabel);
        expect(ipv6PayloadLen(buf, off)).toBe(ipv6ReprHeaderLen(r) - 40 + r.payloadLength);
        expect(ipv6NextHeader(buf, off)).toBe(
          r.extensions.length > 0 ? r.extensions[0].type : r.protocol,
        );
        expect(ipv6HopLimit(buf, off)).toBe(r.hopLimit);
        const words = new Uint32Array(9);
        ipv6Src(buf, off, words, 1);
        ipv6Dst(buf, off, words, 5);
        expect(words.subarray(1, 5)).toEqual(r.src);
        expect(words.subarray(5, 9)).toEqual(r.dst);
        expect(ipv6SrcEquals(buf, off, r.src)).toBe(true);
        expect(ipv6DstEquals(buf, off, words, 5)).toBe(true);
        setIpv6Src(buf, off, a);
        setIpv6Dst(buf, off, b);
        expect(ipv6SrcEquals(buf, off, a)).toBe(true);
        expect(ipv6DstEquals(buf, off, b)).toBe(true);
        expect(ipv6DstIsMulticast(buf, off)).toBe(b[0] >>> 24 === 0xff);
        expect(ipv6SrcIsLinkLocal(buf, off)).toBe(a[0] >>> 22 === 0x3fa);
        expect(ipv6SrcIsUnspecified(buf, off)).toBe(a.every((w) => w === 0));
        setIpv6HopLimit(buf, off, 1);
        expect(ipv6DecrementHopLimit(buf, off)).toBe(0);
        expect(ipv6DecrementHopLimit(buf, off)).toBe(0);
        expect(ipv6HopLimit(buf, off)).toBe(0);
      }),
    );
    const p = packet(repr([], 17, 0));
    setIpv6Src(p, 0, new Uint32Array(4));
    expect(ipv6SrcIsUnspecified(p, 0)).toBe(true);
    setIpv6Src(p, 0, v6("fe80::1"));
    expect(ipv6SrcIsLinkLocal(p, 0)).toBe(true);
  });

  it("round-trips reprs with any chain and packets octet for octet", () => {
    fc.assert(
      fc.property(chainRepr, fc.nat({ max: 20 }), (r, pad) => {
        const wire = packet(r);
        const padded = new Uint8Array(wire.length + pad).fill(0xee);
        padded.set(wire);
        const parsed = parseEmbedded(padded, parseIpv6);
        expect(parsed).toEqual({ ok: true, repr: r });
        if (!parsed.ok) return;
        const again = emitted((buf, off) => emitIpv6(parsed.repr, buf, off));
        expect(again).toEqual(wire.subarray(0, again.length));
      }),
    );
  });

  it("fails every truncation of packets with chains", () => {
    fc.assert(
      fc.property(chainRepr, (r) => {
        expectEveryTruncationFails(
          packet({ ...r, payloadLength: Math.min(r.payloadLength, 40) }),
          checkIpv6,
          parseIpv6,
        );
      }),
      { numRuns: 200 },
    );
  });

  it("reports a bad version and a short input", () => {
    const p = packet(repr([], 59, 0));
    p[0] = 0x45;
    expect(parseIpv6(p, 0, 40)).toEqual({ ok: false, error: Ipv6Error.BadVersion, at: 0 });
    expect(parseIpv6(p, 0, 39)).toEqual({ ok: false, error: Ipv6Error.Truncated, at: 39 });
    const q = packet(repr([], 59, 10));
    expect(parseIpv6(q, 0, 49)).toEqual({ ok: false, error: Ipv6Error.Truncated, at: 49 });
  });

  it("never throws on random octets, nor on random chains behind a valid header", () => {
    fuzz(checkIpv6, parseIpv6, { maxLength: 120 });
    fc.assert(
      fc.property(
        u8,
        fc.uint8Array({ maxLength: 400 }),
        fc.nat({ max: 20 }),
        (nh, payload, short) => {
          const p = new Uint8Array(40 + payload.length);
          p[0] = 0x60;
          p[4] = payload.length >>> 8;
          p[5] = payload.length & 0xff;
          p[6] = nh;
          p.set(payload, 40);
          const plen = Math.max(0, payload.length - short);
          p[4] = plen >>> 8;
          p[5] = plen & 0xff;
          const { error, chain } = walk(p);
          const r = parseEmbedded(p, parseIpv6);
          expect(r.ok).toBe(error === 0);
          if (error === 0) {
            expect(chain.offset).toBeGreaterThanOrEqual(40);
            expect(chain.offset).toBeLessThanOrEqual(chain.end);
            expect(chain.end).toBe(40 + plen);
            expect(chain.headers).toBeLessThanOrEqual(IPV6_MAX_EXT_HEADERS);
          } else {
            expect(r.ok || r.at).toBe(chain.errorAt);
            expect(chain.errorAt).toBeGreaterThanOrEqual(0);
            expect(chain.errorAt).toBeLessThanOrEqual(40 + plen);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("refuses to emit extension headers whose length octet disagrees", () => {
    const buf = new Uint8Array(200);
    const bad = { type: IpProtocol.DestinationOptions, data: new Uint8Array(15) };
    expect(() => emitIpv6(repr([bad], 17, 0), buf, 0)).toThrow(RangeError);
    const odd = { type: IpProtocol.Routing, data: new Uint8Array(8) };
    expect(() => emitIpv6(repr([odd], 17, 0), buf, 0)).toThrow(RangeError);
    expect(() => emitIpv6(repr([], 17, 65536), buf, 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...repr([], 17, 0), flowLabel: 0x100000 }, buf, 0)).toThrow(RangeError);
  });
});

describe("IPv6 extension-header walk", () => {
  const hbh = ipv6OptionsHeader(IpProtocol.HopByHop, hex("05 02 00 00")); // Router Alert (MLD)
  const dst1 = ipv6OptionsHeader(IpProtocol.DestinationOptions, new Uint8Array(10));
  const rt = ipv6RoutingHeader(4, 1, new Uint8Array(20)); // a segment-routing header's shape
  const frag0 = ipv6FragmentHeader(0, true, 0xdeadbeef);
  const ah = ipv6AuthHeader(0x100, 7, new Uint8Array(12));
  const dst2 = ipv6OptionsHeader(IpProtocol.DestinationOptions, new Uint8Array(0));

  it("walks a chain of every header to the upper layer", () => {
    const exts = [hbh, dst1, rt, frag0, ah, dst2];
    expect(exts.map((e) => 1 + e.data.length)).toEqual([8, 16, 24, 8, 24, 8]);
    const p = packet(repr(exts, IpProtocol.Udp, 8));
    const { error, chain } = walk(p);
    expect(error).toBe(0);
    expect(chain).toMatchObject({
      protocol: IpProtocol.Udp,
      offset: 40 + 88,
      protocolAt: 40 + 80,
      end: 40 + 88 + 8,
      headers: 6,
      fragmentAt: 40 + 48,
    });
    expect(ipv6FragmentOffset(p, 88)).toBe(0);
    expect(ipv6MoreFragments(p, 88)).toBe(true);
    expect(ipv6FragmentId(p, 88)).toBe(0xdeadbeef);
    const r = parseEmbedded(p, parseIpv6);
    expect(r.ok && r.repr.extensions.map((e) => e.type)).toEqual([0, 60, 43, 44, 51, 60]);
  });

  it("answers the fixed header's Next Header when there is no chain", () => {
    for (const protocol of [IpProtocol.Tcp, IpProtocol.Esp, IpProtocol.NoNextHeader, 253]) {
      const { error, chain } = walk(packet(repr([], protocol, 4)));
      expect(error).toBe(0);
      expect(chain).toMatchObject({
        protocol,
        offset: 40,
        protocolAt: 6,
        headers: 0,
        fragmentAt: -1,
      });
    }
  });

  it("stops at ESP and No Next Header, whatever follows", () => {
    const p = packet(repr([dst1], IpProtocol.Esp, 16));
    p.fill(0, 56);
    expect(walk(p).chain).toMatchObject({ protocol: IpProtocol.Esp, offset: 56, headers: 1 });
  });

  it("reports a chain that runs past the payload, at every shortening", () => {
    const exts = [hbh, dst1, rt, frag0, ah, dst2];
    const full = packet(repr(exts, IpProtocol.Udp, 0));
    const starts = [40, 48, 64, 88, 96, 120];
    for (let plen = 0; plen < 88; plen++) {
      const p = full.slice(0, 40 + plen);
      p[4] = 0;
      p[5] = plen;
      const { error, chain } = walk(p);
      expect(error).toBe(Ipv6Error.ExtTruncated);
      // The header that does not fit: the last one starting before the end.
      const at = starts.filter((s) => s <= 40 + plen).at(-1);
      expect(chain.errorAt).toBe(at);
      expect(parseEmbedded(p, parseIpv6)).toEqual({ ok: false, error: Ipv6Error.ExtTruncated, at });
    }
  });

  it("refuses a self-referencing chain (a 'loop' of Destination Options) as too long", () => {
    // 800 octets of 3c 00 ...: each Destination Options header names another.
    const payload = new Uint8Array(800);
    for (let i = 0; i < payload.length; i += 8) payload[i] = IpProtocol.DestinationOptions;
    const p = packet(repr([], IpProtocol.DestinationOptions, 800));
    p.set(payload, 40);
    const { error, chain } = walk(p);
    expect(error).toBe(Ipv6Error.ChainTooLong);
    expect(chain.errorAt).toBe(40 + 8 * IPV6_MAX_EXT_HEADERS);
    expect(parseEmbedded(p, parseIpv6)).toEqual({
      ok: false,
      error: Ipv6Error.ChainTooLong,
      at: 40 + 8 * IPV6_MAX_EXT_HEADERS,
    });
  });

  it("accepts exactly IPV6_MAX_EXT_HEADERS headers and refuses one more", () => {
    const at = (n: number) => walk(packet(repr(Array(n).fill(dst2), IpProtocol.Udp, 8)));
    expect(at(IPV6_MAX_EXT_HEADERS)).toMatchObject({
      error: 0,
      chain: { headers: IPV6_MAX_EXT_HEADERS },
    });
    expect(at(IPV6_MAX_EXT_HEADERS + 1)).toMatchObject({ error: Ipv6Error.ChainTooLong });
  });

  it("refuses a Hop-by-Hop header anywhere but first, pointing at the Next Header that names it", () => {
    expect(walk(packet(repr([dst1, hbh], IpProtocol.Udp, 0)))).toMatchObject({
      error: Ipv6Error.HopByHopNotFirst,
      chain: { errorAt: 40 },
    });
    expect(walk(packet(repr([hbh, hbh], IpProtocol.Udp, 0)))).toMatchObject({
      error: Ipv6Error.HopByHopNotFirst,
      chain: { errorAt: 40 },
    });
    expect(walk(packet(repr([hbh, rt, dst1, hbh], IpProtocol.Udp, 0)))).toMatchObject({
      error: Ipv6Error.HopByHopNotFirst,
      chain: { errorAt: 40 + 8 + 24 },
    });
  });

  it("stops after the Fragment header of a non-first fragment", () => {
    const frag = ipv6FragmentHeader(185, true, 42);
    // What follows the header is the middle of the fragmentable part: here, octets that look like a header.
    const p = packet(repr([dst1, frag], IpProtocol.DestinationOptions, 24));
    p.fill(0xff, 64);
    const { error, chain } = walk(p);
    expect(error).toBe(0);
    expect(chain).toMatchObject({
      protocol: IpProtocol.DestinationOptions,
      offset: 64,
      fragmentAt: 56,
      headers: 2,
    });
    expect(ipv6FragmentOffset(p, 56)).toBe(185);
    expect(ipv6FragmentId(p, 56)).toBe(42);
  });

  it("walks on past the Fragment header of a first fragment", () => {
    const { error, chain } = walk(packet(repr([frag0, dst2], IpProtocol.Icmpv6, 8)));
    expect(error).toBe(0);
    expect(chain).toMatchObject({ protocol: IpProtocol.Icmpv6, offset: 56, fragmentAt: 40 });
  });

  it("counts the Authentication Header in 4-octet units", () => {
    const p = packet(repr([ah], IpProtocol.Tcp, 20));
    expect(p[41]).toBe(24 / 4 - 2);
    expect(walk(p).chain).toMatchObject({ protocol: IpProtocol.Tcp, offset: 64 });
  });

  it("reuses the result object without allocating anew", () => {
    const chain = newIpv6Chain();
    const a = embed(packet(repr([ipv6FragmentHeader(0, false, 1)], IpProtocol.Udp, 8)));
    expect(ipv6WalkChain(a.buf, a.off, 56, chain)).toBe(0);
    expect(chain.fragmentAt).toBe(40);
    const b = embed(packet(repr([], IpProtocol.Udp, 8)));
    expect(ipv6WalkChain(b.buf, b.off, 48, chain)).toBe(0);
    expect(chain).toMatchObject({ fragmentAt: -1, headers: 0, offset: 40 });
  });
});
