/**
 * Test helpers for the wire formats: hex fixtures, packets embedded at an
 * offset in a larger buffer (so that a parser which ignores `off` or reads
 * past `len` is caught), truncation and fuzz drivers, fast-check arbitraries
 * for addresses, and a whole-frame dissector that chains the formats the way
 * the data plane and the host stack will.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { checkArp } from "../../../router/wire/arp.ts";
import { type ParseResult, read16 } from "../../../router/wire/bytes.ts";
import { ipv4PseudoSumAt, ipv6PseudoSumAt } from "../../../router/wire/checksum.ts";
import {
  checkEthernet,
  EtherType,
  ethHeaderLen,
  ethPayloadType,
} from "../../../router/wire/ethernet.ts";
import { checkIcmpv4 } from "../../../router/wire/icmpv4.ts";
import { checkIcmpv6 } from "../../../router/wire/icmpv6.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  checkIpv4,
  type Ipv4Repr,
  ipv4HeaderLen,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4TotalLen,
} from "../../../router/wire/ipv4.ts";
import { ipv6WalkChain, newIpv6Chain } from "../../../router/wire/ipv6.ts";
import { checkNdp, ndpOptionsStart } from "../../../router/wire/ndp.ts";
import { checkUdp, udpDstPort, udpLength } from "../../../router/wire/udp.ts";
import { checkVxlan, VXLAN_HEADER_LEN, VXLAN_PORT } from "../../../router/wire/vxlan.ts";

/** Octets from hex text; spaces, newlines and `:` are ignored. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Garbage around embedded packets. */
export const FILL = 0xa5;

/** `bytes` copied into a larger buffer at offset `pre`, garbage on both sides. */
export function embed(bytes: Uint8Array, pre = 7, post = 5): { buf: Uint8Array; off: number } {
  const buf = new Uint8Array(pre + bytes.length + post).fill(FILL);
  buf.set(bytes, pre);
  return { buf, off: pre };
}

/** Runs `parse` on `bytes` embedded at an offset, with `len` = all of it. */
export function parseEmbedded<R, E extends number>(
  bytes: Uint8Array,
  parse: (buf: Uint8Array, off: number, len: number) => ParseResult<R, E>,
): ParseResult<R, E> {
  const { buf, off } = embed(bytes);
  return parse(buf, off, bytes.length);
}

/** Writes with `emit` into a fresh buffer at an offset; answers exactly the octets written. */
export function emitted(emit: (buf: Uint8Array, off: number) => number, room = 4096): Uint8Array {
  const buf = new Uint8Array(room + 16).fill(FILL);
  const n = emit(buf, 9);
  return buf.slice(9, 9 + n);
}

/**
 * For every `len` below `bytes.length` (the rest of the packet still in the
 * buffer, past `len`), `check` must answer non-zero without throwing, and
 * `parse` (when given) must fail with the same code.
 */
export function expectEveryTruncationFails(
  bytes: Uint8Array,
  check: (buf: Uint8Array, off: number, len: number) => number,
  parse?: (buf: Uint8Array, off: number, len: number) => ParseResult<unknown, number>,
  from = 0,
): void {
  const { buf, off } = embed(bytes);
  for (let len = from; len < bytes.length; len++) {
    const code = check(buf, off, len);
    if (code === 0) throw new Error(`a truncation to ${len} of ${bytes.length} octets passed`);
    if (parse !== undefined) {
      const r = parse(buf, off, len);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBe(code);
        expect(r.at).toBeGreaterThanOrEqual(0);
        expect(r.at).toBeLessThanOrEqual(len);
      }
    }
  }
}

/**
 * Random octets at a random offset and length never make `check` or `parse`
 * throw, `check` and `parse` agree, and `at` stays within the input.
 */
export function fuzz(
  check: (buf: Uint8Array, off: number, len: number) => number,
  parse: (buf: Uint8Array, off: number, len: number) => ParseResult<unknown, number>,
  options: { maxLength?: number; numRuns?: number; prefix?: Uint8Array } = {},
): void {
  const prefix = options.prefix ?? new Uint8Array(0);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: options.maxLength ?? 200 }),
      fc.nat({ max: 16 }),
      fc.nat({ max: 16 }),
      (body, pre, post) => {
        const bytes = new Uint8Array(prefix.length + body.length);
        bytes.set(prefix);
        bytes.set(body, prefix.length);
        const { buf, off } = embed(bytes, pre, post);
        const code = check(buf, off, bytes.length);
        const r = parse(buf, off, bytes.length);
        expect(r.ok).toBe(code === 0);
        if (!r.ok) {
          expect(r.error).toBe(code);
          expect(r.at).toBeGreaterThanOrEqual(0);
          expect(r.at).toBeLessThanOrEqual(bytes.length);
        }
      },
    ),
    { numRuns: options.numRuns ?? 2000 },
  );
}

// ---- arbitraries -----------------------------------------------------------------

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u24 = fc.integer({ min: 0, max: 0xffffff });
export const u32 = fc.tuple(u16, u16).map(([hi, lo]) => hi * 0x10000 + lo);
export const mac = fc.tuple(u16, u16, u16).map(([a, b, c]) => (a * 0x10000 + b) * 0x10000 + c);
export const ipv4Addr = u32;
export const ipv6Addr = fc.tuple(u32, u32, u32, u32).map((w) => Uint32Array.from(w));
export const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength });

/** IPv4 header reprs over every field; `payloadLength` up to `maxPayload`. */
export function ipv4Repr(maxPayload = 1000): fc.Arbitrary<Ipv4Repr> {
  return fc.record({
    dscp: fc.integer({ min: 0, max: 63 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    identification: u16,
    dontFragment: fc.boolean(),
    moreFragments: fc.boolean(),
    reservedFlag: fc.boolean(),
    fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
    ttl: u8,
    protocol: u8,
    src: ipv4Addr,
    dst: ipv4Addr,
    options: fc
      .integer({ min: 0, max: 10 })
      .chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n })),
    payloadLength: fc.integer({ min: 0, max: maxPayload }),
  });
}

/** An address inside 2001:db8::/32 (the documentation prefix), as four words. */
export function v6(text: string): Uint32Array {
  // Enough for the fixtures here: full or "::"-compressed hex groups.
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t].map((g) =>
    Number.parseInt(g, 16),
  );
  const out = new Uint32Array(4);
  for (let i = 0; i < 4; i++) out[i] = groups[2 * i] * 0x10000 + groups[2 * i + 1];
  return out;
}

/** An IPv4 address from dotted-quad text. */
export function v4(text: string): number {
  return text.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

// ---- whole frames ------------------------------------------------------------------

export type Dissection =
  | { ok: true; layers: string[] }
  | { ok: false; layers: string[]; failed: string; error: number };

/**
 * Checks a whole Ethernet frame layer by layer as the data plane and host
 * stack will: Ethernet, then ARP, IPv4 or IPv6; ICMP, ICMPv6 (and NDP), UDP
 * with its checksum, and VXLAN (UDP port 4789) down to the inner frame.
 */
export function dissect(buf: Uint8Array, off: number, len: number, depth = 0): Dissection {
  const layers: string[] = [];
  const fail = (failed: string, error: number): Dissection => ({
    ok: false,
    layers,
    failed,
    error,
  });
  let e = checkEthernet(buf, off, len);
  if (e !== 0) return fail("ethernet", e);
  layers.push("ethernet");
  const hl = ethHeaderLen(buf, off);
  const type = ethPayloadType(buf, off);
  const p = off + hl;
  const plen = len - hl;
  const udp = (u: number, ulen: number, pseudo: number): Dissection => {
    e = checkUdp(buf, u, ulen, pseudo);
    if (e !== 0) return fail("udp", e);
    layers.push("udp");
    if (udpDstPort(buf, u) === VXLAN_PORT) {
      const v = u + 8;
      const vlen = udpLength(buf, u) - 8;
      e = checkVxlan(buf, v, vlen);
      if (e !== 0) return fail("vxlan", e);
      layers.push("vxlan");
      if (depth > 2) return { ok: true, layers };
      const inner = dissect(buf, v + VXLAN_HEADER_LEN, vlen - VXLAN_HEADER_LEN, depth + 1);
      layers.push(...inner.layers.map((l) => `inner ${l}`));
      return inner.ok ? { ok: true, layers } : fail(`inner ${inner.failed}`, inner.error);
    }
    return { ok: true, layers };
  };
  if (type === EtherType.Arp) {
    e = checkArp(buf, p, plen);
    if (e !== 0) return fail("arp", e);
    layers.push("arp");
    return { ok: true, layers };
  }
  if (type === EtherType.Ipv4) {
    e = checkIpv4(buf, p, plen);
    if (e !== 0) return fail("ipv4", e);
    layers.push("ipv4");
    if (ipv4IsFragment(buf, p)) return { ok: true, layers };
    const ihl = ipv4HeaderLen(buf, p);
    const u = p + ihl;
    const ulen = ipv4TotalLen(buf, p) - ihl;
    const proto = ipv4Protocol(buf, p);
    if (proto === IpProtocol.Icmp) {
      e = checkIcmpv4(buf, u, ulen);
      if (e !== 0) return fail("icmpv4", e);
      layers.push("icmpv4");
    } else if (proto === IpProtocol.Udp) {
      return udp(u, ulen, ipv4PseudoSumAt(buf, p));
    }
    return { ok: true, layers };
  }
  if (type === EtherType.Ipv6) {
    const chain = newIpv6Chain();
    e = ipv6WalkChain(buf, p, plen, chain);
    if (e !== 0) return fail("ipv6", e);
    layers.push("ipv6");
    if (chain.fragmentAt >= 0 && read16(buf, p + chain.fragmentAt + 2) >>> 3 !== 0) {
      return { ok: true, layers };
    }
    const u = p + chain.offset;
    const ulen = chain.end - chain.offset;
    if (chain.protocol === IpProtocol.Icmpv6) {
      e = checkIcmpv6(buf, u, ulen, ipv6PseudoSumAt(buf, p, IpProtocol.Icmpv6));
      if (e !== 0) return fail("icmpv6", e);
      layers.push("icmpv6");
      if (ndpOptionsStart(buf[u]) >= 0) {
        e = checkNdp(buf, u, ulen);
        if (e !== 0) return fail("ndp", e);
        layers.push("ndp");
      }
    } else if (chain.protocol === IpProtocol.Udp) {
      return udp(u, ulen, ipv6PseudoSumAt(buf, p, IpProtocol.Udp));
    }
    return { ok: true, layers };
  }
  return { ok: true, layers };
}
