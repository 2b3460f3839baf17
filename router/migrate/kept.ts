/**
 * The TCP segments a frozen router kept (whole IP packets, as the host
 * stack holds them in `frozen`), read back for the router's TCP stack when
 * its control plane resumes: on the source after a rollback, on the target
 * after activation. The packets passed the data plane's checks when they
 * arrived, but they travel between hosts in between, so they are checked
 * again and a bad one is reported, never thrown.
 *
 * The list of kept packets travels as one byte string: u32 count, then per
 * packet u32 length and the bytes (big-endian), nothing after the last.
 */
import { IpProtocol } from "../wire/ip.ts";
import { ipv6Dst, ipv6Src, ipv6WalkChain, newIpv6Chain } from "../wire/ipv6.ts";

/** Where a kept packet's TCP segment is. */
export interface KeptSegment {
  family: 4 | 6;
  src: Uint32Array;
  dst: Uint32Array;
  /** Offset and length of the TCP segment in the packet. */
  offset: number;
  length: number;
}

const chain = newIpv6Chain();

/** The TCP segment in a kept IP packet, or why it is not one. */
export function keptSegment(p: Uint8Array): KeptSegment | { error: string } {
  if (p.length < 20) return { error: `a kept packet of ${p.length} bytes is too short` };
  const version = p[0] >>> 4;
  if (version === 4) {
    const hl = (p[0] & 0x0f) * 4;
    const total = (p[2] << 8) | p[3];
    if (hl < 20 || total < hl + 20 || total > p.length)
      return { error: "a kept IPv4 packet has bad header or total lengths" };
    if (p[9] !== IpProtocol.Tcp) return { error: "a kept IPv4 packet is not TCP" };
    const src = Uint32Array.of(((p[12] << 24) | (p[13] << 16) | (p[14] << 8) | p[15]) >>> 0);
    const dst = Uint32Array.of(((p[16] << 24) | (p[17] << 16) | (p[18] << 8) | p[19]) >>> 0);
    return { family: 4, src, dst, offset: hl, length: total - hl };
  }
  if (version === 6) {
    if (ipv6WalkChain(p, 0, p.length, chain) !== 0)
      return { error: "a kept IPv6 packet has a malformed header chain" };
    if (chain.protocol !== IpProtocol.Tcp || chain.fragmentAt >= 0)
      return { error: "a kept IPv6 packet is not an unfragmented TCP segment" };
    const src = new Uint32Array(4);
    const dst = new Uint32Array(4);
    ipv6Src(p, 0, src);
    ipv6Dst(p, 0, dst);
    return { family: 6, src, dst, offset: chain.offset, length: chain.end - chain.offset };
  }
  return { error: `a kept packet has IP version ${version}` };
}

/** Encodes kept packets as one byte string. */
export function encodeKept(packets: readonly Uint8Array[]): Uint8Array {
  let size = 4;
  for (const p of packets) size += 4 + p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, packets.length);
  let at = 4;
  for (const p of packets) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** Decodes kept packets, each checked to be a TCP segment; never throws. */
export function decodeKept(
  bytes: Uint8Array,
): { ok: true; packets: Uint8Array[] } | { ok: false; error: string } {
  if (!(bytes instanceof Uint8Array) || bytes.length < 4)
    return { ok: false, error: "kept packets: shorter than their count" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0);
  const packets: Uint8Array[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length)
      return { ok: false, error: `kept packets: truncated at packet ${i} of ${count}` };
    const len = view.getUint32(at);
    if (at + 4 + len > bytes.length)
      return { ok: false, error: `kept packets: packet ${i} runs past the end` };
    const p = bytes.slice(at + 4, at + 4 + len);
    const seg = keptSegment(p);
    if ("error" in seg) return { ok: false, error: `kept packets: packet ${i}: ${seg.error}` };
    packets.push(p);
    at += 4 + len;
  }
  if (at !== bytes.length)
    return { ok: false, error: `kept packets: ${bytes.length - at} bytes after the last packet` };
  return { ok: true, packets };
}
