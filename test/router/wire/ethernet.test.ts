/** Ethernet II headers with and without an 802.1Q tag, and the MAC helpers. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatMac,
  MAC_BROADCAST,
  macEquals,
  macEqualsAt,
  macIsBroadcast,
  macIsMulticast,
  parseMac,
} from "../../../router/wire/bytes.ts";
import {
  checkEthernet,
  EthernetError,
  type EthernetRepr,
  EtherType,
  emitEthernet,
  ethDst,
  ethHeaderLen,
  ethIsTagged,
  ethPayloadType,
  ethSrc,
  ethType,
  ethVlanId,
  parseEthernet,
  setEthDst,
  setEthSrc,
  writeEthHeader,
} from "../../../router/wire/ethernet.ts";
import {
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  mac,
  parseEmbedded,
  u16,
} from "./util.ts";

const vlan = fc.record({
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.boolean(),
  vid: fc.integer({ min: 0, max: 4095 }),
});

const ethernetRepr: fc.Arbitrary<EthernetRepr> = fc
  .record({ dst: mac, src: mac, vlan: fc.option(vlan, { nil: null }), ethertype: u16 })
  .filter((r) => r.vlan !== null || r.ethertype !== EtherType.Vlan);

describe("Ethernet", () => {
  it("parses an untagged header written out by hand (an IPv4 frame)", () => {
    const frame = hex("00 1b 21 3a 4f 5e  52 54 00 12 34 56  08 00  45 00");
    const r = parseEmbedded(frame, parseEthernet);
    expect(r).toEqual({
      ok: true,
      repr: { dst: 0x001b213a4f5e, src: 0x525400123456, vlan: null, ethertype: EtherType.Ipv4 },
    });
    expect(formatMac(0x001b213a4f5e)).toBe("00:1b:21:3a:4f:5e");
  });

  it("recognises one 802.1Q tag", () => {
    const frame = hex("ff ff ff ff ff ff  52 54 00 12 34 56  81 00  a0 64  86 dd");
    const { buf, off } = embed(frame);
    expect(checkEthernet(buf, off, frame.length)).toBe(0);
    expect(ethIsTagged(buf, off)).toBe(true);
    expect(ethHeaderLen(buf, off)).toBe(18);
    expect(ethVlanId(buf, off)).toBe(100);
    expect(ethType(buf, off)).toBe(EtherType.Vlan);
    expect(ethPayloadType(buf, off)).toBe(EtherType.Ipv6);
    expect(macIsBroadcast(buf, off)).toBe(true);
    expect(parseEthernet(buf, off, frame.length)).toEqual({
      ok: true,
      repr: {
        dst: MAC_BROADCAST,
        src: 0x525400123456,
        vlan: { pcp: 5, dei: false, vid: 100 },
        ethertype: EtherType.Ipv6,
      },
    });
  });

  it("keeps a second tag, an S-tag and 802.3 lengths as EtherTypes", () => {
    const qinq = hex("020000000001 020000000002 8100 0001 8100");
    expect(parseEthernet(qinq, 0, qinq.length)).toMatchObject({
      ok: true,
      repr: { ethertype: 0x8100 },
    });
    const stag = hex("020000000001 020000000002 88a8 0001 8100 0002 0800");
    expect(parseEthernet(stag, 0, stag.length)).toMatchObject({
      ok: true,
      repr: { vlan: null, ethertype: 0x88a8 },
    });
    const llc = hex("020000000001 020000000002 0026 4242");
    expect(parseEthernet(llc, 0, llc.length)).toMatchObject({
      ok: true,
      repr: { ethertype: 0x26 },
    });
  });

  it("round-trips reprs (emit, parse, equal) and headers (parse, emit, same octets)", () => {
    fc.assert(
      fc.property(ethernetRepr, (repr) => {
        const wire = emitted((buf, off) => emitEthernet(repr, buf, off));
        expect(wire.length).toBe(repr.vlan === null ? 14 : 18);
        const r = parseEmbedded(wire, parseEthernet);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok) expect(emitted((buf, off) => emitEthernet(r.repr, buf, off))).toEqual(wire);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 18, maxLength: 18 }), (wire) => {
        const r = parseEthernet(wire, 0, 18);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const again = emitted((buf, off) => emitEthernet(r.repr, buf, off));
        expect(again).toEqual(wire.subarray(0, again.length));
      }),
    );
  });

  it("fails every truncation of the header, and says where", () => {
    for (const repr of [
      { dst: 1, src: 2, vlan: null, ethertype: 0x0800 },
      { dst: 1, src: 2, vlan: { pcp: 0, dei: true, vid: 7 }, ethertype: 0x0806 },
    ]) {
      const wire = emitted((buf, off) => emitEthernet(repr, buf, off));
      expectEveryTruncationFails(wire, checkEthernet, parseEthernet);
    }
    expect(parseEthernet(new Uint8Array(13), 0, 13)).toEqual({
      ok: false,
      error: EthernetError.Truncated,
      at: 13,
    });
    const tagged = hex("020000000001 020000000002 8100 0001");
    expect(parseEthernet(tagged, 0, 16)).toEqual({
      ok: false,
      error: EthernetError.TagTruncated,
      at: 16,
    });
  });

  it("never throws on random octets", () => {
    fuzz(checkEthernet, parseEthernet, { maxLength: 24 });
  });

  it("reads and writes addresses in place", () => {
    fc.assert(
      fc.property(mac, mac, u16, (dst, src, type) => {
        const buf = new Uint8Array(20);
        expect(writeEthHeader(buf, 3, dst, src, type)).toBe(14);
        expect(ethDst(buf, 3)).toBe(dst);
        expect(ethSrc(buf, 3)).toBe(src);
        expect(ethType(buf, 3)).toBe(type);
        expect(macEquals(buf, 3, dst)).toBe(true);
        expect(macEquals(buf, 3, dst === 0 ? 1 : dst - 1)).toBe(false);
        expect(macEquals(buf, 9, src)).toBe(true);
        expect(macEqualsAt(buf, 3, buf, 9)).toBe(dst === src);
        expect(macIsMulticast(buf, 3)).toBe(Math.floor(dst / 2 ** 40) % 2 === 1);
        setEthDst(buf, 3, src);
        setEthSrc(buf, 3, dst);
        expect(ethDst(buf, 3)).toBe(src);
        expect(ethSrc(buf, 3)).toBe(dst);
        expect(ethVlanId(buf, 3)).toBe(type === EtherType.Vlan ? ethVlanId(buf, 3) : -1);
      }),
    );
  });

  it("formats and parses MAC text", () => {
    fc.assert(
      fc.property(mac, (m) => {
        expect(parseMac(formatMac(m))).toBe(m);
      }),
    );
    expect(parseMac("02-00-5E-10-00-00")).toBe(0x02005e100000);
    expect(parseMac("02:00:5e:10:00")).toBeUndefined();
    expect(parseMac("02:00-5e:10:00:00")).toBeUndefined();
    expect(parseMac("0g:00:5e:10:00:00")).toBeUndefined();
  });

  it("refuses to emit what would not parse back", () => {
    const buf = new Uint8Array(18);
    expect(() => emitEthernet({ dst: 0, src: 0, vlan: null, ethertype: 0x8100 }, buf, 0)).toThrow(
      RangeError,
    );
    expect(() =>
      emitEthernet({ dst: 0, src: 0, vlan: { pcp: 8, dei: false, vid: 0 }, ethertype: 0 }, buf, 0),
    ).toThrow(RangeError);
    expect(() => emitEthernet({ dst: 2 ** 48, src: 0, vlan: null, ethertype: 0 }, buf, 0)).toThrow(
      RangeError,
    );
    expect(() =>
      emitEthernet({ dst: 0, src: 0, vlan: { pcp: 0, dei: false, vid: 1 }, ethertype: 0 }, buf, 1),
    ).toThrow(RangeError);
  });
});
