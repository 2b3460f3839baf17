/** UDP (RFC 768) over IPv4 and IPv6 pseudo-headers: checksums, lengths, round trips, truncation, fuzz. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipv4PseudoSum, ipv6PseudoSum, onesSum } from "../../../router/wire/checksum.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  checkUdp,
  emitUdp,
  fillUdpChecksum,
  parseUdp,
  UdpError,
  type UdpRepr,
  udpChecksum,
  udpDstPort,
  udpLength,
  udpSrcPort,
  writeUdpHeader,
} from "../../../router/wire/udp.ts";
import {
  bytes,
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  ipv4Addr,
  ipv6Addr,
  parseEmbedded,
  u16,
  v4,
  v6,
} from "./util.ts";

const P4 = ipv4PseudoSum(v4("198.18.0.1"), v4("198.19.0.2"), IpProtocol.Udp);
const P6 = ipv6PseudoSum(v6("2001:db8::1"), v6("2001:db8::2"), IpProtocol.Udp);
const udpRepr: fc.Arbitrary<UdpRepr> = fc.record({
  srcPort: u16,
  dstPort: u16,
  payload: bytes(200),
});
const pseudo = fc.oneof(
  fc.tuple(ipv4Addr, ipv4Addr).map(([s, d]) => ipv4PseudoSum(s, d, IpProtocol.Udp)),
  fc.tuple(ipv6Addr, ipv6Addr).map(([s, d]) => ipv6PseudoSum(s, d, IpProtocol.Udp)),
);

describe("UDP", () => {
  it("matches checksums computed independently, over IPv4 and IPv6", () => {
    // 5000 -> 53, "vroom"; checksums computed with a separate implementation (Python):
    // 198.18.0.1 -> 198.19.0.2: 0d0c; 2001:db8::1 -> 2001:db8::2: 3dc0.
    const payload = new TextEncoder().encode("vroom");
    const repr = { srcPort: 5000, dstPort: 53, payload };
    expect(emitted((b, o) => emitUdp(repr, b, o, P4))).toEqual(
      hex("1388 0035 000d 0d0c 76726f6f6d"),
    );
    expect(emitted((b, o) => emitUdp(repr, b, o, P6))).toEqual(
      hex("1388 0035 000d 3dc0 76726f6f6d"),
    );
    expect(emitted((b, o) => emitUdp(repr, b, o))).toEqual(hex("1388 0035 000d 0000 76726f6f6d"));
    const wire = hex("1388 0035 000d 0d0c 76726f6f6d");
    expect(parseUdp(wire, 0, wire.length, P4)).toEqual({ ok: true, repr });
    expect(parseUdp(wire, 0, wire.length, P6)).toEqual({
      ok: false,
      error: UdpError.BadChecksum,
      at: 6,
    });
    expect(udpSrcPort(wire, 0)).toBe(5000);
    expect(udpDstPort(wire, 0)).toBe(53);
    expect(udpLength(wire, 0)).toBe(13);
    expect(udpChecksum(wire, 0)).toBe(0x0d0c);
  });

  it("round-trips with and without checksums, padding past the length ignored", () => {
    fc.assert(
      fc.property(udpRepr, pseudo, fc.boolean(), fc.nat({ max: 20 }), (repr, ph, withSum, pad) => {
        const wire = emitted((b, o) => emitUdp(repr, b, o, withSum ? ph : undefined));
        expect(wire.length).toBe(8 + repr.payload.length);
        const padded = new Uint8Array(wire.length + pad).fill(0x77);
        padded.set(wire);
        const { buf, off } = embed(padded);
        const r = parseUdp(buf, off, padded.length, ph);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok)
          expect(emitted((b, o) => emitUdp(r.repr, b, o, withSum ? ph : undefined))).toEqual(wire);
      }),
    );
  });

  it("sends a computed checksum of 0 as 0xFFFF, which verifies", () => {
    const repr = { srcPort: 1, dstPort: 2, payload: new Uint8Array(2) };
    // The word that brings the sum of pseudo-header, header and payload to 0xFFFF.
    const s = onesSum(
      emitted((b, o) => emitUdp(repr, b, o)),
      0,
      10,
      P4 + 10,
    );
    const x = 0xffff - s;
    const payload = new Uint8Array([x >>> 8, x & 0xff]);
    const wire = emitted((b, o) => emitUdp({ ...repr, payload }, b, o, P4));
    expect(udpChecksum(wire, 0)).toBe(0xffff);
    expect(checkUdp(wire, 0, wire.length, P4)).toBe(0);
  });

  it("takes a zero checksum as none", () => {
    const wire = hex("1388 0035 000d 0000 76726f6f6d");
    expect(checkUdp(wire, 0, wire.length, P4)).toBe(0);
    expect(checkUdp(wire, 0, wire.length, P6)).toBe(0);
  });

  it("writes a header in front of a payload already in place", () => {
    fc.assert(
      fc.property(udpRepr, pseudo, (repr, ph) => {
        const { buf, off } = embed(new Uint8Array(8 + repr.payload.length));
        buf.set(repr.payload, off + 8);
        expect(
          writeUdpHeader(buf, off, repr.srcPort, repr.dstPort, 8 + repr.payload.length, ph),
        ).toBe(8);
        expect(buf.subarray(off, off + 8 + repr.payload.length)).toEqual(
          emitted((b, o) => emitUdp(repr, b, o, ph)),
        );
        buf[off + 6] ^= 0x5a;
        fillUdpChecksum(buf, off, ph);
        expect(checkUdp(buf, off, 8 + repr.payload.length, ph)).toBe(0);
      }),
    );
  });

  it("reports bad lengths and checksums, and where", () => {
    const wire = hex("1388 0035 000d 0d0c 76726f6f6d");
    const short = wire.slice();
    short[5] = 7;
    expect(parseUdp(short, 0, short.length)).toEqual({
      ok: false,
      error: UdpError.BadLength,
      at: 4,
    });
    const long = wire.slice();
    long[5] = 14;
    expect(parseUdp(long, 0, long.length)).toEqual({
      ok: false,
      error: UdpError.Truncated,
      at: 13,
    });
    const flipped = wire.slice();
    flipped[9] ^= 1;
    expect(parseUdp(flipped, 0, flipped.length, P4)).toEqual({
      ok: false,
      error: UdpError.BadChecksum,
      at: 6,
    });
    expect(parseUdp(flipped, 0, flipped.length)).toMatchObject({ ok: true });
  });

  it("fails every truncation", () => {
    expectEveryTruncationFails(hex("1388 0035 000d 0d0c 76726f6f6d"), checkUdp, parseUdp);
    expectEveryTruncationFails(hex("1388 0035 0008 0000"), checkUdp, parseUdp);
  });

  it("never throws on random octets", () => {
    fuzz(checkUdp, parseUdp, { maxLength: 60 });
    fuzz(
      (b, o, l) => checkUdp(b, o, l, P6),
      (b, o, l) => parseUdp(b, o, l, P6),
      { maxLength: 60 },
    );
    expect(parseEmbedded(hex("0000 0000 0008 0000"), parseUdp)).toMatchObject({ ok: true });
  });

  it("refuses to emit a datagram longer than 65535", () => {
    const buf = new Uint8Array(70_000);
    expect(() =>
      emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(65528) }, buf, 0),
    ).toThrow(RangeError);
    expect(emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(65527) }, buf, 0)).toBe(65535);
  });
});
