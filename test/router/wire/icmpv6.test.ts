/**
 * ICMPv6 (RFC 4443): every kind round-trips over its pseudo-header, error
 * builders quote the offending packet up to the 1280-octet minimum MTU,
 * echo requests are answered in place, truncation and fuzz.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipv6PseudoSum } from "../../../router/wire/checksum.ts";
import {
  checkIcmpv6,
  emitIcmpv6,
  emitIcmpv6Error,
  ICMPV6_MAX_QUOTE,
  Icmpv6Error,
  Icmpv6ParamProblem,
  type Icmpv6Repr,
  Icmpv6TimeExceeded,
  Icmpv6Type,
  icmpv6Code,
  icmpv6EchoId,
  icmpv6EchoSeq,
  icmpv6EchoToReply,
  icmpv6IsError,
  icmpv6Param,
  icmpv6QuoteLength,
  icmpv6ReprLen,
  icmpv6Type,
  parseIcmpv6,
} from "../../../router/wire/icmpv6.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  emitIpv6,
  IPV6_MIN_MTU,
  type Ipv6Repr,
  ipv6OptionsHeader,
  ipv6WalkChain,
  newIpv6Chain,
} from "../../../router/wire/ipv6.ts";
import {
  bytes,
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  ipv6Addr,
  u8,
  u16,
  u32,
  v6,
} from "./util.ts";

const A = v6("2001:db8::1");
const B = v6("2001:db8::2");
const PSEUDO = ipv6PseudoSum(A, B, IpProtocol.Icmpv6);

const icmpv6Repr: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("echoRequest" as const, "echoReply" as const),
    code: u8,
    identifier: u16,
    sequence: u16,
    data: bytes(64),
  }),
  fc.record({
    kind: fc.constant("dstUnreachable" as const),
    code: u8,
    unused: u32,
    invoking: bytes(64),
  }),
  fc.record({
    kind: fc.constant("packetTooBig" as const),
    code: u8,
    mtu: u32,
    invoking: bytes(64),
  }),
  fc.record({
    kind: fc.constant("timeExceeded" as const),
    code: u8,
    unused: u32,
    invoking: bytes(64),
  }),
  fc.record({
    kind: fc.constant("parameterProblem" as const),
    code: u8,
    pointer: u32,
    invoking: bytes(64),
  }),
  fc.record({
    kind: fc.constant("other" as const),
    type: u8.filter((t) => !(t >= 1 && t <= 4) && t !== 128 && t !== 129),
    code: u8,
    body: bytes(64),
  }),
);

/** An offending IPv6 packet (UDP) with `payload` octets after the header. */
function offending(payload: number): Uint8Array {
  const r: Ipv6Repr = {
    trafficClass: 0,
    flowLabel: 0,
    hopLimit: 1,
    src: A,
    dst: v6("2001:db8:ffff::9"),
    extensions: [],
    protocol: IpProtocol.Udp,
    payloadLength: payload,
  };
  return emitted((buf, off) => {
    const hl = emitIpv6(r, buf, off);
    for (let i = 0; i < payload; i++) buf[off + hl + i] = i & 0xff;
    return hl + payload;
  }, 70_000);
}

describe("ICMPv6", () => {
  it("parses an echo request whose checksum was computed independently", () => {
    // 2001:db8::1 -> 2001:db8::2, id 1, seq 1, no data; checksum 2446 computed with a
    // separate implementation (Python) over the pseudo-header and the message.
    const msg = hex("8000 2446 0001 0001");
    expect(checkIcmpv6(msg, 0, 8, PSEUDO)).toBe(0);
    expect(parseIcmpv6(msg, 0, 8, PSEUDO)).toEqual({
      ok: true,
      repr: { kind: "echoRequest", code: 0, identifier: 1, sequence: 1, data: new Uint8Array(0) },
    });
    expect(icmpv6Type(msg, 0)).toBe(Icmpv6Type.EchoRequest);
    expect(icmpv6Code(msg, 0)).toBe(0);
    expect(icmpv6EchoId(msg, 0)).toBe(1);
    expect(icmpv6EchoSeq(msg, 0)).toBe(1);
    expect(icmpv6Param(msg, 0)).toBe(0x00010001);
    // The same message between other addresses does not verify.
    expect(parseIcmpv6(msg, 0, 8, ipv6PseudoSum(A, v6("2001:db8::3"), 58))).toEqual({
      ok: false,
      error: Icmpv6Error.BadChecksum,
      at: 2,
    });
  });

  it("round-trips every kind, unknown types included, octet for octet", () => {
    fc.assert(
      fc.property(icmpv6Repr, ipv6Addr, ipv6Addr, (repr, src, dst) => {
        const pseudo = ipv6PseudoSum(src, dst, IpProtocol.Icmpv6);
        const wire = emitted((buf, off) => emitIcmpv6(repr, buf, off, pseudo));
        expect(wire.length).toBe(icmpv6ReprLen(repr));
        const { buf, off } = embed(wire);
        const r = parseIcmpv6(buf, off, wire.length, pseudo);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok) expect(emitted((b, o) => emitIcmpv6(r.repr, b, o, pseudo))).toEqual(wire);
      }),
    );
  });

  it("answers an echo request in place as the emitted reply would be", () => {
    fc.assert(
      fc.property(u16, u16, bytes(100), (identifier, sequence, data) => {
        const request = emitted((b, o) =>
          emitIcmpv6({ kind: "echoRequest", code: 0, identifier, sequence, data }, b, o, PSEUDO),
        );
        const reply = emitted((b, o) =>
          emitIcmpv6({ kind: "echoReply", code: 0, identifier, sequence, data }, b, o, PSEUDO),
        );
        const { buf, off } = embed(request);
        icmpv6EchoToReply(buf, off);
        expect(buf.subarray(off, off + request.length)).toEqual(reply);
        // With the addresses swapped the pseudo-header sum is the same.
        expect(checkIcmpv6(buf, off, request.length, ipv6PseudoSum(B, A, 58))).toBe(0);
      }),
    );
  });

  it("quotes as much of the offending packet as fits in 1280 octets", () => {
    expect(ICMPV6_MAX_QUOTE).toBe(1232);
    for (const [payload, quote] of [
      [0, 40],
      [100, 140],
      [1192, 1232],
      [1193, 1232],
      [8000, 1232],
    ]) {
      const inv = offending(payload);
      expect(icmpv6QuoteLength(inv.length)).toBe(quote);
      // The whole error packet, as the data plane would build it.
      const packet = emitted((buf, off) => {
        const hl = emitIpv6(
          {
            trafficClass: 0,
            flowLabel: 0,
            hopLimit: 64,
            src: B,
            dst: A,
            extensions: [],
            protocol: IpProtocol.Icmpv6,
            payloadLength: 8 + quote,
          },
          buf,
          off,
        );
        const pseudo = ipv6PseudoSum(B, A, IpProtocol.Icmpv6);
        return (
          hl +
          emitIcmpv6Error(
            buf,
            off + hl,
            Icmpv6Type.TimeExceeded,
            Icmpv6TimeExceeded.HopLimit,
            0,
            inv,
            0,
            inv.length,
            pseudo,
          )
        );
      }, 70_000);
      expect(packet.length).toBe(48 + quote);
      expect(packet.length).toBeLessThanOrEqual(IPV6_MIN_MTU);
      const r = parseIcmpv6(packet, 40, packet.length - 40, ipv6PseudoSum(B, A, 58));
      expect(r).toEqual({
        ok: true,
        repr: { kind: "timeExceeded", code: 0, unused: 0, invoking: inv.slice(0, quote) },
      });
    }
  });

  it("builds packet too big and parameter problem with their 32-bit field", () => {
    const inv = offending(1400);
    const ptb = emitted((buf, off) =>
      emitIcmpv6Error(buf, off, Icmpv6Type.PacketTooBig, 0, 1280, inv, 0, inv.length, PSEUDO),
    );
    expect(parseIcmpv6(ptb, 0, ptb.length, PSEUDO)).toMatchObject({
      ok: true,
      repr: { kind: "packetTooBig", code: 0, mtu: 1280 },
    });
    // A Hop-by-Hop header out of place: the walk's errorAt is the pointer.
    const bad = emitted((buf, off) => {
      const dst = ipv6OptionsHeader(IpProtocol.DestinationOptions, new Uint8Array(0));
      const hbh = ipv6OptionsHeader(IpProtocol.HopByHop, new Uint8Array(0));
      return emitIpv6(
        {
          trafficClass: 0,
          flowLabel: 0,
          hopLimit: 9,
          src: A,
          dst: B,
          extensions: [dst, hbh],
          protocol: 17,
          payloadLength: 0,
        },
        buf,
        off,
      );
    });
    const chain = newIpv6Chain();
    expect(ipv6WalkChain(bad, 0, bad.length, chain)).not.toBe(0);
    const pp = emitted((buf, off) =>
      emitIcmpv6Error(
        buf,
        off,
        Icmpv6Type.ParameterProblem,
        Icmpv6ParamProblem.NextHeader,
        chain.errorAt,
        bad,
        0,
        bad.length,
        PSEUDO,
      ),
    );
    expect(parseIcmpv6(pp, 0, pp.length, PSEUDO)).toEqual({
      ok: true,
      repr: { kind: "parameterProblem", code: 1, pointer: 40, invoking: bad },
    });
  });

  it("builds an error in place in a batch buffer, overlapping the offending packet", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1500 }),
        fc.integer({ min: -100, max: 100 }),
        (payload, shift) => {
          const inv = offending(payload);
          const want = emitted((buf, off) =>
            emitIcmpv6Error(buf, off, 1, 3, 0, inv, 0, inv.length, PSEUDO),
          );
          const batch = new Uint8Array(2000).fill(0xa5);
          batch.set(inv, 150);
          const n = emitIcmpv6Error(batch, 150 + shift, 1, 3, 0, batch, 150, inv.length, PSEUDO);
          expect(batch.subarray(150 + shift, 150 + shift + n)).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("tells error messages from informational ones", () => {
    for (const t of [0, 1, 2, 3, 4, 127]) expect(icmpv6IsError(t)).toBe(true);
    for (const t of [128, 129, 133, 135, 143, 255]) expect(icmpv6IsError(t)).toBe(false);
  });

  it("reports short messages", () => {
    const msg = hex("8000 2446 0001 0001");
    expect(parseIcmpv6(msg, 0, 3, PSEUDO)).toEqual({
      ok: false,
      error: Icmpv6Error.Truncated,
      at: 3,
    });
    expect(parseIcmpv6(msg, 0, 7, PSEUDO)).toEqual({
      ok: false,
      error: Icmpv6Error.Truncated,
      at: 7,
    });
    // An NDP router solicitation needs only 4 octets to be an ICMPv6 message (NDP wants 8).
    const rs = emitted((b, o) =>
      emitIcmpv6({ kind: "other", type: 133, code: 0, body: new Uint8Array(0) }, b, o, PSEUDO),
    );
    expect(rs.length).toBe(4);
    expect(checkIcmpv6(rs, 0, 4, PSEUDO)).toBe(0);
  });

  it("fails every truncation of this message (its checksum sees each; the IP length would anyway)", () => {
    const data = new Uint8Array(40).map((_, i) => (i * 7 + 3) & 0xff);
    const msg = emitted((b, o) =>
      emitIcmpv6({ kind: "echoRequest", code: 0, identifier: 9, sequence: 9, data }, b, o, PSEUDO),
    );
    expectEveryTruncationFails(
      msg,
      (buf, off, len) => checkIcmpv6(buf, off, len, PSEUDO),
      (buf, off, len) => parseIcmpv6(buf, off, len, PSEUDO),
    );
  });

  it("never throws on random octets", () => {
    fuzz(
      (buf, off, len) => checkIcmpv6(buf, off, len, PSEUDO),
      (buf, off, len) => parseIcmpv6(buf, off, len, PSEUDO),
      { maxLength: 80 },
    );
  });

  it("refuses to emit a type under the wrong kind", () => {
    const buf = new Uint8Array(64);
    expect(() =>
      emitIcmpv6({ kind: "other", type: 128, code: 0, body: new Uint8Array(4) }, buf, 0, PSEUDO),
    ).toThrow(RangeError);
  });
});
