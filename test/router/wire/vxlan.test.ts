/** VXLAN (RFC 7348): the 8-octet header, the I flag, the 24-bit VNI, reserved bits kept. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkVxlan,
  emitVxlan,
  parseVxlan,
  setVxlanVni,
  VXLAN_PORT,
  VxlanError,
  type VxlanRepr,
  vxlanVni,
  writeVxlanHeader,
} from "../../../router/wire/vxlan.ts";
import {
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  parseEmbedded,
  u8,
  u24,
} from "./util.ts";

const vxlanRepr: fc.Arbitrary<VxlanRepr> = fc.record({
  vni: u24,
  reservedFlags: u8.map((f) => f & 0xf7),
  reserved1: u24,
  reserved2: u8,
});

describe("VXLAN", () => {
  it("reads the header a Linux vxlan device sends (VNI 42)", () => {
    const h = hex("0800 0000 0000 2a00");
    expect(parseEmbedded(h, parseVxlan)).toEqual({
      ok: true,
      repr: { vni: 42, reservedFlags: 0, reserved1: 0, reserved2: 0 },
    });
    expect(vxlanVni(h, 0)).toBe(42);
    expect(emitted((b, o) => writeVxlanHeader(b, o, 42))).toEqual(h);
    expect(VXLAN_PORT).toBe(4789);
  });

  it("round-trips reprs, reserved bits included, and rewrites the VNI in place", () => {
    fc.assert(
      fc.property(vxlanRepr, u24, (repr, vni) => {
        const wire = emitted((b, o) => emitVxlan(repr, b, o));
        expect(wire.length).toBe(8);
        const r = parseEmbedded(wire, parseVxlan);
        expect(r).toEqual({ ok: true, repr });
        if (r.ok) expect(emitted((b, o) => emitVxlan(r.repr, b, o))).toEqual(wire);
        const { buf, off } = embed(wire);
        setVxlanVni(buf, off, vni);
        expect(parseVxlan(buf, off, 8)).toEqual({ ok: true, repr: { ...repr, vni } });
      }),
    );
  });

  it("refuses a header without the I flag, and every truncation", () => {
    expect(parseVxlan(hex("0000 0000 0000 2a00"), 0, 8)).toEqual({
      ok: false,
      error: VxlanError.NoVni,
      at: 0,
    });
    expect(parseVxlan(hex("f700 0000 0000 2a00"), 0, 8)).toEqual({
      ok: false,
      error: VxlanError.NoVni,
      at: 0,
    });
    expectEveryTruncationFails(hex("0800 0000 0000 2a00"), checkVxlan, parseVxlan);
  });

  it("never throws on random octets", () => {
    fuzz(checkVxlan, parseVxlan, { maxLength: 20 });
  });

  it("refuses to emit what would not parse back", () => {
    const buf = new Uint8Array(8);
    expect(() =>
      emitVxlan({ vni: 1 << 24, reservedFlags: 0, reserved1: 0, reserved2: 0 }, buf, 0),
    ).toThrow(RangeError);
    expect(() =>
      emitVxlan({ vni: 1, reservedFlags: 8, reserved1: 0, reserved2: 0 }, buf, 0),
    ).toThrow(RangeError);
  });
});
