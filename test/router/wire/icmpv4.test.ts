/**
 * ICMP for IPv4 (RFC 792, RFC 1191): every kind round-trips, error builders
 * quote the offending header and 8 octets (in place in a batch buffer too),
 * echo requests are answered in place, truncation and fuzz.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checksumOk } from "../../../router/wire/checksum.ts";
import {
  checkIcmpv4,
  emitIcmpv4,
  emitIcmpv4DstUnreachable,
  emitIcmpv4Error,
  emitIcmpv4TimeExceeded,
  ICMPV4_HEADER_LEN,
  Icmpv4Error,
  type Icmpv4Repr,
  Icmpv4TimeExceeded,
  Icmpv4Type,
  Icmpv4Unreachable,
  icmpv4Code,
  icmpv4EchoId,
  icmpv4EchoSeq,
  icmpv4EchoToReply,
  icmpv4IsError,
  icmpv4NextHopMtu,
  icmpv4QuoteLength,
  icmpv4ReprLen,
  icmpv4Rest,
  icmpv4Type,
  parseIcmpv4,
} from "../../../router/wire/icmpv4.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import { emitIpv4, type Ipv4Repr, NO_OPTIONS } from "../../../router/wire/ipv4.ts";
import {
  bytes,
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  parseEmbedded,
  u8,
  u16,
  u24,
  u32,
  v4,
} from "./util.ts";

const known = new Set<number>([0, 3, 8, 11, 12]);
const icmpv4Repr: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
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
    unused: u16,
    nextHopMtu: u16,
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
    pointer: u8,
    unused: u24,
    invoking: bytes(64),
  }),
  fc.record({
    kind: fc.constant("other" as const),
    type: u8.filter((t) => !known.has(t)),
    code: u8,
    rest: u32,
    data: bytes(64),
  }),
);

/** An offending IPv4 packet: `options` octets of options, `payload` octets of payload. */
function offending(optionWords: number, payload: number): Uint8Array {
  const repr: Ipv4Repr = {
    dscp: 0,
    ecn: 0,
    identification: 7,
    dontFragment: true,
    moreFragments: false,
    reservedFlag: false,
    fragmentOffset: 0,
    ttl: 1,
    protocol: IpProtocol.Udp,
    src: v4("198.18.0.1"),
    dst: v4("198.19.0.1"),
    options: optionWords === 0 ? NO_OPTIONS : new Uint8Array(optionWords * 4).fill(1),
    payloadLength: payload,
  };
  return emitted((buf, off) => {
    const hl = emitIpv4(repr, buf, off);
    for (let i = 0; i < payload; i++) buf[off + hl + i] = 0x40 + i;
    return hl + payload;
  });
}

describe("ICMPv4", () => {
  it("parses an echo request written out by hand", () => {
    // id 0x1c2b, seq 1, 8 octets of 'a' (as `ping -p 61` pads):
    // 0800 + 1c2b + 0001 + 4 * 6161 = 1a9b0 -> a9b0 + 1 = a9b1; checksum ~a9b1 = 564e.
    const msg = hex("0800 564e 1c2b 0001 6161 6161 6161 6161");
    expect(checksumOk(msg, 0, msg.length)).toBe(true);
    const r = parseEmbedded(msg, parseIcmpv4);
    expect(r).toEqual({
      ok: true,
      repr: {
        kind: "echoRequest",
        code: 0,
        identifier: 0x1c2b,
        sequence: 1,
        data: new Uint8Array(8).fill(0x61),
      },
    });
    const { buf, off } = embed(msg);
    expect(icmpv4Type(buf, off)).toBe(Icmpv4Type.EchoRequest);
    expect(icmpv4Code(buf, off)).toBe(0);
    expect(icmpv4EchoId(buf, off)).toBe(0x1c2b);
    expect(icmpv4EchoSeq(buf, off)).toBe(1);
    expect(icmpv4Rest(buf, off)).toBe(0x1c2b0001);
  });

  it("round-trips every kind, unknown types included, octet for octet", () => {
    fc.assert(
      fc.property(icmpv4Repr, (repr) => {
        const wire = emitted((buf, off) => emitIcmpv4(repr, buf, off));
        expect(wire.length).toBe(icmpv4ReprLen(repr));
        const r = parseEmbedded(wire, parseIcmpv4);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok) expect(emitted((buf, off) => emitIcmpv4(r.repr, buf, off))).toEqual(wire);
      }),
    );
  });

  it("answers an echo request in place as the emitted reply would be", () => {
    fc.assert(
      fc.property(u16, u16, bytes(100), (identifier, sequence, data) => {
        const request = emitted((b, o) =>
          emitIcmpv4({ kind: "echoRequest", code: 0, identifier, sequence, data }, b, o),
        );
        const reply = emitted((b, o) =>
          emitIcmpv4({ kind: "echoReply", code: 0, identifier, sequence, data }, b, o),
        );
        const { buf, off } = embed(request);
        icmpv4EchoToReply(buf, off);
        expect(buf.subarray(off, off + request.length)).toEqual(reply);
      }),
    );
  });

  it("quotes the offending header and 8 octets of payload", () => {
    for (const [words, payload, want] of [
      [0, 100, 28],
      [1, 100, 32],
      [10, 100, 68],
      [0, 4, 24],
      [0, 8, 28],
    ]) {
      const inv = offending(words, payload);
      expect(icmpv4QuoteLength(inv, 0, inv.length)).toBe(want);
      const msg = emitted((buf, off) =>
        emitIcmpv4TimeExceeded(buf, off, Icmpv4TimeExceeded.Ttl, inv, 0, inv.length),
      );
      expect(msg.length).toBe(ICMPV4_HEADER_LEN + want);
      expect(parseEmbedded(msg, parseIcmpv4)).toEqual({
        ok: true,
        repr: { kind: "timeExceeded", code: 0, unused: 0, invoking: inv.slice(0, want) },
      });
    }
    // An offending packet cut short in the buffer: no more than there is.
    const inv = offending(0, 100);
    expect(icmpv4QuoteLength(inv, 0, 22)).toBe(22);
    expect(icmpv4QuoteLength(inv, 0, 2)).toBe(2);
    // A header length below 20 (a packet that failed its check) counts as 20.
    const bad = inv.slice();
    bad[0] = 0x41;
    expect(icmpv4QuoteLength(bad, 0, bad.length)).toBe(28);
  });

  it("builds fragmentation needed with the next-hop MTU (RFC 1191)", () => {
    const inv = offending(0, 1400);
    const msg = emitted((buf, off) =>
      emitIcmpv4DstUnreachable(
        buf,
        off,
        Icmpv4Unreachable.FragmentationNeeded,
        1450,
        inv,
        0,
        inv.length,
      ),
    );
    expect(icmpv4NextHopMtu(msg, 0)).toBe(1450);
    expect(parseIcmpv4(msg, 0, msg.length)).toEqual({
      ok: true,
      repr: {
        kind: "dstUnreachable",
        code: 4,
        unused: 0,
        nextHopMtu: 1450,
        invoking: inv.slice(0, 28),
      },
    });
  });

  it("builds an error in place in a batch buffer, overlapping the offending packet", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: -60, max: 60 }),
        (words, payload, shift) => {
          const inv = offending(words, payload);
          const want = emitted((buf, off) =>
            emitIcmpv4Error(buf, off, 3, 1, 0, inv, 0, inv.length),
          );
          const batch = new Uint8Array(600).fill(0xa5);
          batch.set(inv, 200);
          const n = emitIcmpv4Error(batch, 200 + shift, 3, 1, 0, batch, 200, inv.length);
          expect(batch.subarray(200 + shift, 200 + shift + n)).toEqual(want);
        },
      ),
    );
  });

  it("tells error messages from queries", () => {
    for (const t of [3, 4, 5, 11, 12]) expect(icmpv4IsError(t)).toBe(true);
    for (const t of [0, 8, 9, 10, 13, 14, 42]) expect(icmpv4IsError(t)).toBe(false);
  });

  it("reports short messages and bad checksums", () => {
    const msg = hex("0800 564e 1c2b 0001 6161 6161 6161 6161");
    expect(parseIcmpv4(msg, 0, 7)).toEqual({ ok: false, error: Icmpv4Error.Truncated, at: 7 });
    const bad = msg.slice();
    bad[9] = 0x62;
    expect(parseIcmpv4(bad, 0, bad.length)).toEqual({
      ok: false,
      error: Icmpv4Error.BadChecksum,
      at: 2,
    });
  });

  it("fails every truncation of this message (its checksum sees each; the IP length would anyway)", () => {
    const data = new Uint8Array(40).map((_, i) => (i * 7 + 3) & 0xff);
    const msg = emitted((b, o) =>
      emitIcmpv4({ kind: "echoRequest", code: 0, identifier: 9, sequence: 9, data }, b, o),
    );
    expectEveryTruncationFails(msg, checkIcmpv4, parseIcmpv4);
  });

  it("never throws on random octets", () => {
    fuzz(checkIcmpv4, parseIcmpv4, { maxLength: 80 });
  });

  it("refuses to emit fields that do not fit", () => {
    const buf = new Uint8Array(100);
    const data = new Uint8Array(0);
    expect(() =>
      emitIcmpv4({ kind: "echoRequest", code: 0, identifier: 0x10000, sequence: 0, data }, buf, 0),
    ).toThrow(RangeError);
    expect(() => emitIcmpv4({ kind: "other", type: 256, code: 0, rest: 0, data }, buf, 0)).toThrow(
      RangeError,
    );
    expect(() =>
      emitIcmpv4(
        { kind: "echoReply", code: 0, identifier: 0, sequence: 0, data: new Uint8Array(93) },
        buf,
        0,
      ),
    ).toThrow(RangeError);
  });
});
