/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words, an odd last
 * octet padded with a zero octet.
 *
 * Sums are kept "running": `onesSum` takes the sum so far and answers the new
 * one folded to 16 bits (end-around carry), so a pseudo-header, a header and
 * a payload in different places add up without copying. Every range but the
 * last must have an even length (the ranges are concatenated word-wise).
 *
 * RFC 1624 incremental update, eqn. 3: HC' = ~(~HC + ~m + m'), for a changed
 * 16-bit word m -> m' (the TTL/protocol word when a router decrements the
 * TTL). It equals a full recomputation whenever the data, before and after,
 * is not all zero (true of every IPv4 header: its version is 4); eqn. 3 is
 * the form that never produces the 0xFFFF the RFC warns about for eqn. 2.
 *
 * Pseudo-headers: IPv4 (RFC 768, RFC 9293) and IPv6 (RFC 8200 section 8.1).
 * The `…PseudoSum…` functions sum everything but the upper-layer length, and
 * every function that takes a `pseudo` sum (UDP, ICMPv6, NDP) adds the length
 * it knows itself (the UDP length field, the ICMPv6 message length): one
 * convention, so a length is never counted twice, and the caller computes
 * the sum once per packet, before it knows the length. A TCP checksum adds
 * the segment length: `internetChecksum(buf, off, len, pseudo + len)`.
 */
import { read16, read32 } from "./bytes.ts";

/** Folds a sum of 16-bit words (any size up to 2^53) to 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * One's complement sum of `len` octets from `buf[off]`, added to the running
 * sum `sum` (any non-negative integer); answers a folded value in 0..0xFFFF,
 * 0 only when everything summed was zero.
 */
export function onesSum(buf: Uint8Array, off: number, len: number, sum = 0): number {
  if (sum > 0xffff) sum = foldSum(sum);
  const end = off + len;
  let i = off;
  // Fold every 8192 words at most, so that the accumulator stays a small integer.
  while (end - i >= 2) {
    const stop = Math.min(end - ((end - i) & 1), i + 16384);
    for (; i < stop; i += 2) sum += (buf[i] << 8) | buf[i + 1];
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += buf[i] << 8;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** The checksum to store: the complement of the folded sum of the range (plus `sum`). */
export function internetChecksum(buf: Uint8Array, off: number, len: number, sum = 0): number {
  return ~onesSum(buf, off, len, sum) & 0xffff;
}

/** Whether a range that includes its checksum field sums (with `sum`) to 0xFFFF. */
export function checksumOk(buf: Uint8Array, off: number, len: number, sum = 0): boolean {
  return onesSum(buf, off, len, sum) === 0xffff;
}

/** RFC 1624 eqn. 3: the checksum after one 16-bit word of the data changed from `from` to `to`. */
export function updateChecksum16(checksum: number, from: number, to: number): number {
  let sum = (~checksum & 0xffff) + (~from & 0xffff) + (to & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 eqn. 3 for a changed 32-bit word (an IPv4 address), word-aligned in the data. */
export function updateChecksum32(checksum: number, from: number, to: number): number {
  let sum =
    (~checksum & 0xffff) +
    (~(from >>> 16) & 0xffff) +
    (~from & 0xffff) +
    (to >>> 16) +
    (to & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (source, destination, zero, protocol,
 * length); `length` defaults to 0, for callers that add it later.
 */
export function ipv4PseudoSum(src: number, dst: number, protocol: number, length = 0): number {
  return foldSum((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
}

/** The IPv4 pseudo-header sum without length, addresses and protocol read from the header at `ipOff`. */
export function ipv4PseudoSumAt(buf: Uint8Array, ipOff: number): number {
  return foldSum(
    read16(buf, ipOff + 12) +
      read16(buf, ipOff + 14) +
      read16(buf, ipOff + 16) +
      read16(buf, ipOff + 18) +
      buf[ipOff + 9],
  );
}

/**
 * Sum of the IPv6 pseudo-header (source, destination, zero, next header)
 * without its 32-bit upper-layer length, for addresses given as four 32-bit
 * words each.
 */
export function ipv6PseudoSum(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  nextHeader: number,
): number {
  let sum = nextHeader;
  for (let i = 0; i < 4; i++) {
    sum += (src[i] >>> 16) + (src[i] & 0xffff) + (dst[i] >>> 16) + (dst[i] & 0xffff);
  }
  return foldSum(sum);
}

/**
 * The IPv6 pseudo-header sum without length, addresses read from the IPv6
 * header at `ipOff`.
 * `nextHeader` is the upper-layer protocol, which extension headers may hide
 * from the fixed header. (With a Routing header the destination that counts
 * is the final one; this reads the header's own.)
 */
export function ipv6PseudoSumAt(
  buf: Uint8Array,
  ipOff: number,
  nextHeader: number,
  length = 0,
): number {
  let sum = nextHeader + (length >>> 16) + (length & 0xffff);
  for (let i = ipOff + 8; i < ipOff + 40; i += 4) {
    const w = read32(buf, i);
    sum += (w >>> 16) + (w & 0xffff);
  }
  return foldSum(sum);
}
