/**
 * Neighbor Discovery (RFC 4861): neighbor solicitation and advertisement
 * with link-layer address options, router solicitation and advertisement
 * with prefix, MTU and unknown options, redirect; options walked with
 * their length checks (length 0 refused), unknown options kept, truncation
 * and fuzz; the multicast helpers of neighbour resolution.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatMac } from "../../../router/wire/bytes.ts";
import { ipv6PseudoSum } from "../../../router/wire/checksum.ts";
import { checkIcmpv6, Icmpv6Type, parseIcmpv6 } from "../../../router/wire/icmpv6.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  checkNdp,
  emitNdp,
  ipv6MulticastMac,
  ipv6MulticastMacAt,
  NA_FLAG_OVERRIDE,
  NA_FLAG_SOLICITED,
  NdpError,
  type NdpOption,
  NdpOptionType,
  type NdpRepr,
  ndpFindOption,
  ndpLinkLayerAddress,
  ndpNaFlags,
  ndpOptionsStart,
  ndpReprLen,
  ndpTarget,
  ndpTargetEquals,
  PREFIX_FLAG_AUTONOMOUS,
  PREFIX_FLAG_ON_LINK,
  parseNdp,
  RA_FLAG_OTHER,
  solicitedNodeAddress,
} from "../../../router/wire/ndp.ts";
import {
  embed,
  emitted,
  fuzz,
  hex,
  ipv6Addr,
  mac,
  parseEmbedded,
  u8,
  u16,
  u32,
  v6,
} from "./util.ts";

const A = v6("2001:db8::1");
const B = v6("2001:db8::2");
const SNM_A = v6("ff02::1:ff00:1");
const PSEUDO = ipv6PseudoSum(B, SNM_A, IpProtocol.Icmpv6);

// B asks for A's MAC: NS to A's solicited-node group with B's MAC as source
// link-layer address. Checksum 976c computed with a separate implementation (Python).
const NS = hex(`
  8700 976c 0000 0000
  2001 0db8 0000 0000 0000 0000 0000 0001
  01 01 52 54 00 12 34 56`);

const notMulticast = ipv6Addr.map((a) => {
  if (a[0] >>> 24 === 0xff) a[0] &= 0x00ffffff;
  return a;
});

const option: fc.Arbitrary<NdpOption> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("sourceLinkLayer" as const, "targetLinkLayer" as const),
    address: mac,
  }),
  fc.record({
    kind: fc.constant("prefixInformation" as const),
    prefixLength: u8,
    flags: u8,
    validLifetime: u32,
    preferredLifetime: u32,
    reserved: u32,
    prefix: ipv6Addr,
  }),
  fc.record({ kind: fc.constant("mtu" as const), reserved: u16, mtu: u32 }),
  fc
    .record({ type: u8, units: fc.integer({ min: 1, max: 6 }) })
    .chain(({ type, units }) =>
      fc.record({
        kind: fc.constant("raw" as const),
        type: fc.constant(type),
        data: fc.uint8Array({ minLength: units * 8 - 2, maxLength: units * 8 - 2 }),
      }),
    )
    // What the parser would turn into a typed option is not raw.
    .filter(
      (o) =>
        !((o.type === 1 || o.type === 2 || o.type === 5) && o.data.length === 6) &&
        !(o.type === 3 && o.data.length === 30),
    ),
);
const options = fc.array(option, { maxLength: 5 });

const ndpRepr: fc.Arbitrary<NdpRepr> = fc.oneof(
  fc.record({ kind: fc.constant("routerSolicitation" as const), reserved: u32, options }),
  fc.record({
    kind: fc.constant("routerAdvertisement" as const),
    curHopLimit: u8,
    flags: u8,
    routerLifetime: u16,
    reachableTime: u32,
    retransTimer: u32,
    options,
  }),
  fc.record({
    kind: fc.constant("neighborSolicitation" as const),
    reserved: u32,
    target: notMulticast,
    options,
  }),
  fc.record({
    kind: fc.constant("neighborAdvertisement" as const),
    router: fc.boolean(),
    solicited: fc.boolean(),
    override: fc.boolean(),
    reserved: fc.integer({ min: 0, max: 0x1fffffff }),
    target: notMulticast,
    options,
  }),
  fc.record({
    kind: fc.constant("redirect" as const),
    reserved: u32,
    target: notMulticast,
    destination: notMulticast,
    options,
  }),
);

describe("NDP", () => {
  it("parses a neighbor solicitation and finds its source link-layer address in place", () => {
    expect(checkIcmpv6(NS, 0, NS.length, PSEUDO)).toBe(0);
    expect(parseIcmpv6(NS, 0, NS.length, PSEUDO)).toMatchObject({
      ok: true,
      repr: { kind: "other", type: 135 },
    });
    expect(parseEmbedded(NS, parseNdp)).toEqual({
      ok: true,
      repr: {
        kind: "neighborSolicitation",
        reserved: 0,
        target: A,
        options: [{ kind: "sourceLinkLayer", address: 0x525400123456 }],
      },
    });
    const { buf, off } = embed(NS);
    expect(ndpFindOption(buf, off, NS.length, NdpOptionType.SourceLinkLayerAddress)).toBe(24);
    expect(ndpFindOption(buf, off, NS.length, NdpOptionType.TargetLinkLayerAddress)).toBe(-1);
    expect(formatMac(ndpLinkLayerAddress(buf, off + 24))).toBe("52:54:00:12:34:56");
    const target = new Uint32Array(4);
    ndpTarget(buf, off, target);
    expect(target).toEqual(A);
    expect(ndpTargetEquals(buf, off, A)).toBe(true);
    expect(ndpTargetEquals(buf, off, B)).toBe(false);
    // And emitting the repr gives the same octets, checksum included.
    expect(
      emitted((b, o) =>
        emitNdp(
          {
            kind: "neighborSolicitation",
            reserved: 0,
            target: A,
            options: [{ kind: "sourceLinkLayer", address: 0x525400123456 }],
          },
          b,
          o,
          PSEUDO,
        ),
      ),
    ).toEqual(NS);
  });

  it("answers with a solicited advertisement carrying the target link-layer address", () => {
    const pseudo = ipv6PseudoSum(A, B, IpProtocol.Icmpv6);
    const na: NdpRepr = {
      kind: "neighborAdvertisement",
      router: false,
      solicited: true,
      override: true,
      reserved: 0,
      target: A,
      options: [{ kind: "targetLinkLayer", address: 0x020000000001 }],
    };
    const wire = emitted((b, o) => emitNdp(na, b, o, pseudo));
    expect(wire.length).toBe(32);
    expect(wire.subarray(0, 8)).toEqual(
      hex(
        `88 00 ${wire[2].toString(16).padStart(2, "0")}${wire[3].toString(16).padStart(2, "0")} 60 00 00 00`,
      ),
    );
    expect(checkIcmpv6(wire, 0, 32, pseudo)).toBe(0);
    expect(ndpNaFlags(wire, 0)).toBe((NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE) >>> 0);
    expect(
      ndpLinkLayerAddress(wire, ndpFindOption(wire, 0, 32, NdpOptionType.TargetLinkLayerAddress)),
    ).toBe(0x020000000001);
    expect(parseNdp(wire, 0, 32)).toEqual({ ok: true, repr: na });
  });

  it("parses a router advertisement with prefix, MTU and an unknown option, keeping the latter", () => {
    const rdnss = hex("0000 0000 0e10  2001 0db8 0000 0000 0000 0000 0000 0053"); // RFC 8106, lifetime 3600
    const ra: NdpRepr = {
      kind: "routerAdvertisement",
      curHopLimit: 64,
      flags: RA_FLAG_OTHER,
      routerLifetime: 1800,
      reachableTime: 0,
      retransTimer: 0,
      options: [
        { kind: "sourceLinkLayer", address: 0x020000000001 },
        { kind: "mtu", reserved: 0, mtu: 1500 },
        {
          kind: "prefixInformation",
          prefixLength: 64,
          flags: PREFIX_FLAG_ON_LINK | PREFIX_FLAG_AUTONOMOUS,
          validLifetime: 2592000,
          preferredLifetime: 604800,
          reserved: 0,
          prefix: v6("2001:db8:1::"),
        },
        { kind: "raw", type: NdpOptionType.RecursiveDnsServer, data: rdnss },
      ],
    };
    const wire = emitted((b, o) => emitNdp(ra, b, o, PSEUDO));
    expect(wire.length).toBe(16 + 8 + 8 + 32 + 24);
    expect(wire[16 + 8 + 8 + 32]).toBe(25);
    expect(wire[16 + 8 + 8 + 32 + 1]).toBe(3);
    expect(parseEmbedded(wire, parseNdp)).toEqual({ ok: true, repr: ra });
    expect(ndpFindOption(wire, 0, wire.length, 25)).toBe(64);
    expect(ndpFindOption(wire, 0, wire.length, NdpOptionType.PrefixInformation)).toBe(32);
  });

  it("keeps a known option with a length its repr cannot carry as raw", () => {
    // A source link-layer address of 14 octets (a link with longer addresses).
    const rs = hex("8500 0000 0000 0000  01 02 00 11 22 33 44 55 66 77 88 99 aa bb cc dd");
    const r = parseNdp(rs, 0, rs.length);
    expect(r).toEqual({
      ok: true,
      repr: {
        kind: "routerSolicitation",
        reserved: 0,
        options: [{ kind: "raw", type: 1, data: rs.slice(10) }],
      },
    });
    expect(ndpLinkLayerAddress(rs, 8)).toBe(-1);
    if (r.ok)
      expect(emitted((b, o) => emitNdp(r.repr, b, o, 0)).subarray(4)).toEqual(rs.subarray(4));
  });

  it("round-trips every message kind and option, octet for octet", () => {
    fc.assert(
      fc.property(ndpRepr, (repr) => {
        const wire = emitted((b, o) => emitNdp(repr, b, o, PSEUDO));
        expect(wire.length).toBe(ndpReprLen(repr));
        expect(checkIcmpv6(wire, 0, wire.length, PSEUDO)).toBe(0);
        const r = parseEmbedded(wire, parseNdp);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok) expect(emitted((b, o) => emitNdp(r.repr, b, o, PSEUDO))).toEqual(wire);
      }),
    );
  });

  it("refuses an option of length zero, pointing at its length octet", () => {
    const zeroFirst = NS.slice();
    zeroFirst[25] = 0;
    expect(parseNdp(zeroFirst, 0, NS.length)).toEqual({
      ok: false,
      error: NdpError.OptionZeroLength,
      at: 25,
    });
    const zeroSecond = new Uint8Array(NS.length + 8);
    zeroSecond.set(NS);
    zeroSecond[32] = 14; // a nonce option of length 0 after the SLLA
    expect(parseNdp(zeroSecond, 0, zeroSecond.length)).toEqual({
      ok: false,
      error: NdpError.OptionZeroLength,
      at: 33,
    });
    expect(checkNdp(zeroSecond, 0, zeroSecond.length)).toBe(NdpError.OptionZeroLength);
  });

  it("refuses an option that runs past the end", () => {
    const long = NS.slice();
    long[25] = 2;
    expect(parseNdp(long, 0, long.length)).toEqual({
      ok: false,
      error: NdpError.OptionTruncated,
      at: 24,
    });
    const stub = new Uint8Array(NS.length + 1);
    stub.set(NS);
    expect(parseNdp(stub, 0, stub.length)).toEqual({
      ok: false,
      error: NdpError.OptionTruncated,
      at: 32,
    });
  });

  it("refuses other types, codes but 0 and multicast targets", () => {
    const p = NS.slice();
    p[0] = Icmpv6Type.EchoRequest;
    expect(parseNdp(p, 0, p.length)).toEqual({ ok: false, error: NdpError.NotNdp, at: 0 });
    const c = NS.slice();
    c[1] = 1;
    expect(parseNdp(c, 0, c.length)).toEqual({ ok: false, error: NdpError.BadCode, at: 1 });
    const m = NS.slice();
    m[8] = 0xff;
    expect(parseNdp(m, 0, m.length)).toEqual({ ok: false, error: NdpError.MulticastTarget, at: 8 });
    const redirect = emitted((b, o) =>
      emitNdp(
        { kind: "redirect", reserved: 0, target: A, destination: SNM_A, options: [] },
        b,
        o,
        0,
      ),
    );
    expect(parseNdp(redirect, 0, redirect.length)).toEqual({
      ok: false,
      error: NdpError.MulticastTarget,
      at: 24,
    });
  });

  it("fails a truncation exactly when it does not end on an option boundary", () => {
    fc.assert(
      fc.property(ndpRepr, (repr) => {
        const wire = emitted((b, o) => emitNdp(repr, b, o, PSEUDO));
        const start = ndpOptionsStart(wire[0]);
        const boundaries = new Set<number>([start]);
        let at = start;
        for (const o of repr.options) {
          at += o.kind === "prefixInformation" ? 32 : o.kind === "raw" ? 2 + o.data.length : 8;
          boundaries.add(at);
        }
        const { buf, off } = embed(wire);
        for (let len = 0; len < wire.length; len++) {
          const r = parseNdp(buf, off, len);
          expect(r.ok).toBe(boundaries.has(len));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("never throws on random octets", () => {
    fuzz(checkNdp, parseNdp, { maxLength: 100 });
    for (const type of [133, 134, 135, 136, 137]) {
      fuzz(checkNdp, parseNdp, {
        maxLength: 80,
        numRuns: 1000,
        prefix: new Uint8Array([type, 0, 0, 0]),
      });
      const start = ndpOptionsStart(type);
      const fixed = new Uint8Array(start);
      fixed[0] = type;
      fuzz(checkNdp, parseNdp, { maxLength: 60, numRuns: 1000, prefix: fixed });
    }
  });

  it("maps addresses to solicited-node groups and multicast MACs", () => {
    const out = new Uint32Array(4);
    solicitedNodeAddress(A, out);
    expect(out).toEqual(SNM_A);
    solicitedNodeAddress(v6("2001:db8::4567:89ab"), out);
    expect(out).toEqual(v6("ff02::1:ff67:89ab"));
    expect(formatMac(ipv6MulticastMac(SNM_A))).toBe("33:33:ff:00:00:01");
    expect(formatMac(ipv6MulticastMac(v6("ff02::1")))).toBe("33:33:00:00:00:01");
    const words = new Uint8Array(16);
    new DataView(words.buffer).setUint32(12, 0xff123456);
    expect(formatMac(ipv6MulticastMacAt(words, 0))).toBe("33:33:ff:12:34:56");
  });

  it("refuses to emit options that cannot be encoded", () => {
    const buf = new Uint8Array(100);
    const bad: NdpRepr = {
      kind: "routerSolicitation",
      reserved: 0,
      options: [{ kind: "raw", type: 9, data: new Uint8Array(5) }],
    };
    expect(() => emitNdp(bad, buf, 0, 0)).toThrow(RangeError);
  });
});
