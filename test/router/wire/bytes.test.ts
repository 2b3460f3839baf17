/** The shared helpers: big-endian access, packed faults, error names, emit guards. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  copyBytes,
  errorName,
  failure,
  fault,
  faultCode,
  needRoom,
  needUint,
  read16,
  read24,
  read32,
  read48,
  write16,
  write24,
  write32,
  write48,
} from "../../../router/wire/bytes.ts";
import { Ipv6Error } from "../../../router/wire/ipv6.ts";
import { mac, u16, u24, u32 } from "./util.ts";

describe("wire bytes", () => {
  it("reads back what it writes, big-endian", () => {
    fc.assert(
      fc.property(u16, u24, u32, mac, (a, b, c, d) => {
        const buf = new Uint8Array(20);
        write16(buf, 1, a);
        write24(buf, 3, b);
        write32(buf, 6, c);
        write48(buf, 10, d);
        expect([read16(buf, 1), read24(buf, 3), read32(buf, 6), read48(buf, 10)]).toEqual([
          a,
          b,
          c,
          d,
        ]);
        expect(buf[6]).toBe(c >>> 24);
        expect(buf[15]).toBe(d % 256);
      }),
    );
  });

  it("packs an error code with its offset, past 2^23 too", () => {
    for (const at of [0, 1, 255, 65535, 2 ** 23, 2 ** 30]) {
      const f = fault(5, at);
      expect(faultCode(f)).toBe(5);
      expect(failure(f)).toEqual({ ok: false, error: 5, at });
    }
  });

  it("names error codes", () => {
    expect(errorName(Ipv6Error, Ipv6Error.ChainTooLong)).toBe("ChainTooLong");
    expect(errorName(Ipv6Error, 0)).toBe("OK");
    expect(errorName(Ipv6Error, 99)).toBe("error 99");
  });

  it("guards emitters", () => {
    expect(() => needRoom(new Uint8Array(4), 1, 4, "x")).toThrow(RangeError);
    expect(() => needRoom(new Uint8Array(4), -1, 1, "x")).toThrow(RangeError);
    expect(() => needRoom(new Uint8Array(4), 0, 4, "x")).not.toThrow();
    expect(() => needUint(1.5, 10, "x")).toThrow(RangeError);
    expect(() => needUint(11, 10, "x")).toThrow(RangeError);
  });

  it("copies overlapping ranges like memmove", () => {
    const buf = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    copyBytes(buf, 0, buf, 2, 5);
    expect(Array.from(buf)).toEqual([0, 1, 0, 1, 2, 3, 4, 7]);
    const out = new Uint8Array(3);
    copyBytes(buf, 5, out, 0, 3);
    expect(Array.from(out)).toEqual([3, 4, 7]);
  });
});
