/** ARP for IPv4 over Ethernet (RFC 826): requests, replies, the in-place answer, malformed packets. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ARP_LEN,
  ArpError,
  ArpOperation,
  type ArpRepr,
  arpOperation,
  arpRequestToReply,
  arpSenderIp,
  arpSenderMac,
  arpTargetIp,
  arpTargetMac,
  checkArp,
  emitArp,
  parseArp,
} from "../../../router/wire/arp.ts";
import {
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  ipv4Addr,
  mac,
  parseEmbedded,
  u16,
  v4,
} from "./util.ts";

const arpRepr: fc.Arbitrary<ArpRepr> = fc.record({
  operation: fc.oneof(fc.constantFrom(1, 2, 3, 4, 8, 9), u16),
  senderMac: mac,
  senderIp: ipv4Addr,
  targetMac: mac,
  targetIp: ipv4Addr,
});

// "Who has 198.18.0.1? Tell 198.18.0.2", laid out as a Linux host sends it (after the Ethernet header).
const REQUEST = hex(`
  0001 0800 06 04 0001
  52 54 00 12 34 56   c6 12 00 02
  00 00 00 00 00 00   c6 12 00 01`);
// The answer from 02:00:00:00:00:01.
const REPLY = hex(`
  0001 0800 06 04 0002
  02 00 00 00 00 01   c6 12 00 01
  52 54 00 12 34 56   c6 12 00 02`);

describe("ARP", () => {
  it("parses a request", () => {
    expect(parseEmbedded(REQUEST, parseArp)).toEqual({
      ok: true,
      repr: {
        operation: ArpOperation.Request,
        senderMac: 0x525400123456,
        senderIp: v4("198.18.0.2"),
        targetMac: 0,
        targetIp: v4("198.18.0.1"),
      },
    });
    const { buf, off } = embed(REQUEST);
    expect(arpOperation(buf, off)).toBe(1);
    expect(arpSenderMac(buf, off)).toBe(0x525400123456);
    expect(arpSenderIp(buf, off)).toBe(v4("198.18.0.2"));
    expect(arpTargetMac(buf, off)).toBe(0);
    expect(arpTargetIp(buf, off)).toBe(v4("198.18.0.1"));
  });

  it("builds the reply, by emitting and in place", () => {
    const reply: ArpRepr = {
      operation: ArpOperation.Reply,
      senderMac: 0x020000000001,
      senderIp: v4("198.18.0.1"),
      targetMac: 0x525400123456,
      targetIp: v4("198.18.0.2"),
    };
    expect(emitted((buf, off) => emitArp(reply, buf, off))).toEqual(REPLY);
    const { buf, off } = embed(REQUEST);
    arpRequestToReply(buf, off, 0x020000000001);
    expect(buf.subarray(off, off + ARP_LEN)).toEqual(REPLY);
    expect(buf.subarray(0, off).every((b) => b === 0xa5)).toBe(true);
    expect(buf.subarray(off + ARP_LEN).every((b) => b === 0xa5)).toBe(true);
  });

  it("answers any request in place as the emitted reply", () => {
    fc.assert(
      fc.property(arpRepr, mac, (req, me) => {
        const { buf, off } = embed(emitted((b, o) => emitArp({ ...req, operation: 1 }, b, o)));
        arpRequestToReply(buf, off, me);
        const want = emitted((b, o) =>
          emitArp(
            {
              operation: 2,
              senderMac: me,
              senderIp: req.targetIp,
              targetMac: req.senderMac,
              targetIp: req.senderIp,
            },
            b,
            o,
          ),
        );
        expect(buf.subarray(off, off + ARP_LEN)).toEqual(want);
      }),
    );
  });

  it("round-trips reprs, unknown operations included, and accepts trailing padding", () => {
    fc.assert(
      fc.property(arpRepr, fc.nat({ max: 18 }), (repr, pad) => {
        const wire = emitted((buf, off) => emitArp(repr, buf, off));
        expect(wire.length).toBe(28);
        const padded = new Uint8Array(28 + pad);
        padded.set(wire);
        const r = parseEmbedded(padded, parseArp);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok) expect(emitted((buf, off) => emitArp(r.repr, buf, off))).toEqual(wire);
      }),
    );
  });

  it("refuses other hardware and protocol types, saying where", () => {
    const bad = (at: number, value: number) => {
      const p = REQUEST.slice();
      p[at] = value;
      return parseArp(p, 0, p.length);
    };
    expect(bad(1, 6)).toEqual({ ok: false, error: ArpError.UnsupportedHardware, at: 0 });
    expect(bad(2, 0x86)).toEqual({ ok: false, error: ArpError.UnsupportedProtocol, at: 2 });
    expect(bad(4, 8)).toEqual({ ok: false, error: ArpError.UnsupportedHardware, at: 4 });
    expect(bad(5, 16)).toEqual({ ok: false, error: ArpError.UnsupportedProtocol, at: 5 });
  });

  it("fails every truncation and never throws on random octets", () => {
    expectEveryTruncationFails(REQUEST, checkArp, parseArp);
    fuzz(checkArp, parseArp, { maxLength: 40 });
    fuzz(checkArp, parseArp, { maxLength: 30, prefix: hex("0001 0800 0604") });
  });
});
