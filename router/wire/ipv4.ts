/**
 * IPv4 headers (RFC 791), as a router forwards them (RFC 1812).
 *
 * `checkIpv4` validates what a router must before forwarding (RFC 1812
 * section 5.2.2): length at least 20, version 4, IHL at least 5 and within
 * the input, a correct header checksum, a total length at least the header
 * length and no more than the octets at hand. Octets past the total length
 * (Ethernet padding) are allowed and ignored. Options are carried as opaque
 * octets; whether a header has any is `ipv4HasOptions`. The reserved flag,
 * DSCP/ECN, unknown protocols and options all round-trip unchanged.
 *
 * The hot path reads and writes fields in place and decrements the TTL with
 * the RFC 1624 incremental checksum update (`ipv4DecrementTtl`). The repr is
 * for the control plane, tests and the host stack: `emitIpv4` writes a
 * header (options included) with its checksum; the payload is the caller's.
 */
import {
  failure,
  fault,
  needRoom,
  needUint,
  type ParseResult,
  read16,
  read32,
  write16,
  write32,
} from "./bytes.ts";
import { checksumOk, internetChecksum, updateChecksum16, updateChecksum32 } from "./checksum.ts";

export const IPV4_VERSION = 4;
/** Header without options. */
export const IPV4_HEADER_LEN = 20;
/** Header with 40 octets of options (IHL 15). */
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_OPTIONS_LEN = 40;
/** Largest total length. */
export const IPV4_MAX_PACKET_LEN = 0xffff;
/** Every host must accept datagrams of this size (RFC 791). */
export const IPV4_MIN_MTU = 576;

/** Offsets of the header's fields. */
export const Ipv4Field = {
  VersionIhl: 0,
  DscpEcn: 1,
  TotalLength: 2,
  Identification: 4,
  FlagsFragment: 6,
  Ttl: 8,
  Protocol: 9,
  Checksum: 10,
  Src: 12,
  Dst: 16,
  Options: 20,
} as const;

/** Bits of the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_RESERVED = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

export const Ipv4Error = {
  /** The input ends before the header or before the total length. */
  Truncated: 1,
  /** Version is not 4. */
  BadVersion: 2,
  /** IHL below 5. */
  BadHeaderLength: 3,
  /** Total length below the header length. */
  BadTotalLength: 4,
  /** The header checksum does not verify. */
  BadChecksum: 5,
} as const;
export type Ipv4Error = (typeof Ipv4Error)[keyof typeof Ipv4Error];

export interface Ipv4Repr {
  /** Differentiated services code point, 0..63. */
  dscp: number;
  /** Explicit congestion notification, 0..3. */
  ecn: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** The reserved ("evil") flag bit, kept as received. */
  reservedFlag: boolean;
  /** Fragment offset in 8-octet units, as on the wire (0..8191). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
  /** Option octets as on the wire (a multiple of 4, at most 40), empty for none. */
  options: Uint8Array;
  /** Octets after the header: total length minus header length. */
  payloadLength: number;
}

/** Shared empty options, for reprs reused on the hot path. */
export const NO_OPTIONS: Uint8Array = new Uint8Array(0);

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < IPV4_HEADER_LEN) return fault(Ipv4Error.Truncated, len);
  const vihl = buf[off];
  if (vihl >>> 4 !== IPV4_VERSION) return fault(Ipv4Error.BadVersion, 0);
  const hl = (vihl & 0xf) << 2;
  if (hl < IPV4_HEADER_LEN) return fault(Ipv4Error.BadHeaderLength, 0);
  if (hl > len) return fault(Ipv4Error.Truncated, len);
  if (!checksumOk(buf, off, hl)) return fault(Ipv4Error.BadChecksum, Ipv4Field.Checksum);
  const total = read16(buf, off + Ipv4Field.TotalLength);
  if (total < hl) return fault(Ipv4Error.BadTotalLength, Ipv4Field.TotalLength);
  if (total > len) return fault(Ipv4Error.Truncated, len);
  return 0;
}

/** Validates the IPv4 packet `(buf, off, len)`: 0 or an Ipv4Error. */
export function checkIpv4(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

// ---- in-place accessors (on a checked header) --------------------------------

export function ipv4Version(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}

/** Header length in octets (IHL * 4). */
export function ipv4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off] & 0xf) << 2;
}

export function ipv4HasOptions(buf: Uint8Array, off: number): boolean {
  return (buf[off] & 0xf) > 5;
}

export function ipv4Dscp(buf: Uint8Array, off: number): number {
  return buf[off + Ipv4Field.DscpEcn] >>> 2;
}

export function ipv4Ecn(buf: Uint8Array, off: number): number {
  return buf[off + Ipv4Field.DscpEcn] & 3;
}

export function ipv4TotalLen(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv4Field.TotalLength);
}

/** Octets after the header (total length minus header length). */
export function ipv4PayloadLen(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv4Field.TotalLength) - ((buf[off] & 0xf) << 2);
}

export function ipv4Identification(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv4Field.Identification);
}

/** The 16-bit flags/fragment-offset word. */
export function ipv4FlagsFragment(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv4Field.FlagsFragment);
}

export function ipv4DontFragment(buf: Uint8Array, off: number): boolean {
  return (buf[off + Ipv4Field.FlagsFragment] & 0x40) !== 0;
}

export function ipv4MoreFragments(buf: Uint8Array, off: number): boolean {
  return (buf[off + Ipv4Field.FlagsFragment] & 0x20) !== 0;
}

/** Fragment offset in 8-octet units. */
export function ipv4FragmentOffset(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv4Field.FlagsFragment) & IPV4_FRAGMENT_OFFSET_MASK;
}

/** Whether the packet is a fragment (MF set or a non-zero offset). */
export function ipv4IsFragment(buf: Uint8Array, off: number): boolean {
  return (
    (read16(buf, off + Ipv4Field.FlagsFragment) & (IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK)) !== 0
  );
}

export function ipv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + Ipv4Field.Ttl];
}

/** Sets the TTL, updating the checksum incrementally. */
export function setIpv4Ttl(buf: Uint8Array, off: number, ttl: number): void {
  const at = off + Ipv4Field.Ttl;
  const from = read16(buf, at);
  const to = (ttl << 8) | buf[at + 1];
  buf[at] = ttl;
  write16(buf, off + Ipv4Field.Checksum, updateChecksum16(ipv4Checksum(buf, off), from, to));
}

/**
 * Decrements a non-zero TTL, updating the checksum with RFC 1624 eqn. 3;
 * answers the new TTL. A TTL of 0 is left alone (and 0 answered): the data
 * plane sends Time Exceeded instead of forwarding when the TTL is 1 or less.
 */
export function ipv4DecrementTtl(buf: Uint8Array, off: number): number {
  const at = off + Ipv4Field.Ttl;
  const ttl = buf[at];
  if (ttl === 0) return 0;
  const protocol = buf[at + 1];
  buf[at] = ttl - 1;
  const sum = updateChecksum16(
    read16(buf, off + Ipv4Field.Checksum),
    (ttl << 8) | protocol,
    ((ttl - 1) << 8) | protocol,
  );
  write16(buf, off + Ipv4Field.Checksum, sum);
  return ttl - 1;
}

export function ipv4Protocol(buf: Uint8Array, off: number): number {
  return buf[off + Ipv4Field.Protocol];
}

export function ipv4Checksum(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv4Field.Checksum);
}

/** Whether the header checksum verifies. */
export function ipv4ChecksumOk(buf: Uint8Array, off: number): boolean {
  return checksumOk(buf, off, ipv4HeaderLen(buf, off));
}

/** Recomputes and stores the header checksum. */
export function fillIpv4Checksum(buf: Uint8Array, off: number): void {
  write16(buf, off + Ipv4Field.Checksum, 0);
  write16(buf, off + Ipv4Field.Checksum, internetChecksum(buf, off, ipv4HeaderLen(buf, off)));
}

/** Source address, an unsigned 32-bit integer. */
export function ipv4Src(buf: Uint8Array, off: number): number {
  return read32(buf, off + Ipv4Field.Src);
}

/** Destination address, an unsigned 32-bit integer. */
export function ipv4Dst(buf: Uint8Array, off: number): number {
  return read32(buf, off + Ipv4Field.Dst);
}

/** Sets the source address, updating the checksum incrementally. */
export function setIpv4Src(buf: Uint8Array, off: number, addr: number): void {
  const at = off + Ipv4Field.Src;
  const sum = updateChecksum32(ipv4Checksum(buf, off), read32(buf, at), addr);
  write32(buf, at, addr);
  write16(buf, off + Ipv4Field.Checksum, sum);
}

/** Sets the destination address, updating the checksum incrementally. */
export function setIpv4Dst(buf: Uint8Array, off: number, addr: number): void {
  const at = off + Ipv4Field.Dst;
  const sum = updateChecksum32(ipv4Checksum(buf, off), read32(buf, at), addr);
  write32(buf, at, addr);
  write16(buf, off + Ipv4Field.Checksum, sum);
}

/** Whether an address is multicast (224.0.0.0/4). */
export function ipv4IsMulticast(addr: number): boolean {
  return addr >>> 28 === 0xe;
}

/** Whether an address is the limited broadcast 255.255.255.255. */
export function ipv4IsBroadcast(addr: number): boolean {
  return addr === 0xffffffff;
}

// ---- repr ----------------------------------------------------------------------

export function parseIpv4(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<Ipv4Repr, Ipv4Error> {
  const f = validate(buf, off, len);
  if (f !== 0) return failure(f);
  const hl = ipv4HeaderLen(buf, off);
  const ff = ipv4FlagsFragment(buf, off);
  return {
    ok: true,
    repr: {
      dscp: ipv4Dscp(buf, off),
      ecn: ipv4Ecn(buf, off),
      identification: ipv4Identification(buf, off),
      dontFragment: (ff & IPV4_FLAG_DF) !== 0,
      moreFragments: (ff & IPV4_FLAG_MF) !== 0,
      reservedFlag: (ff & IPV4_FLAG_RESERVED) !== 0,
      fragmentOffset: ff & IPV4_FRAGMENT_OFFSET_MASK,
      ttl: ipv4Ttl(buf, off),
      protocol: ipv4Protocol(buf, off),
      src: ipv4Src(buf, off),
      dst: ipv4Dst(buf, off),
      options: buf.slice(off + IPV4_HEADER_LEN, off + hl),
      payloadLength: ipv4TotalLen(buf, off) - hl,
    },
  };
}

/** Header length of a repr (20 plus its options). */
export function ipv4ReprHeaderLen(repr: Ipv4Repr): number {
  return IPV4_HEADER_LEN + repr.options.length;
}

/**
 * Writes the header of `repr` (options included) with its checksum; answers
 * the header length. The payload, `repr.payloadLength` octets, is the caller's.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, off: number): number {
  const olen = repr.options.length;
  if (olen % 4 !== 0 || olen > IPV4_MAX_OPTIONS_LEN) {
    throw new RangeError(`IPv4 options of ${olen} octets: not a multiple of 4 up to 40`);
  }
  const hl = IPV4_HEADER_LEN + olen;
  needRoom(buf, off, hl, "IPv4 header");
  needUint(repr.payloadLength, IPV4_MAX_PACKET_LEN - hl, "IPv4 payload length");
  needUint(repr.dscp, 63, "DSCP");
  needUint(repr.ecn, 3, "ECN");
  needUint(repr.identification, 0xffff, "identification");
  needUint(repr.fragmentOffset, IPV4_FRAGMENT_OFFSET_MASK, "fragment offset");
  needUint(repr.ttl, 255, "TTL");
  needUint(repr.protocol, 255, "protocol");
  needUint(repr.src, 0xffffffff, "source address");
  needUint(repr.dst, 0xffffffff, "destination address");
  buf[off] = (IPV4_VERSION << 4) | (hl >>> 2);
  buf[off + Ipv4Field.DscpEcn] = (repr.dscp << 2) | repr.ecn;
  write16(buf, off + Ipv4Field.TotalLength, hl + repr.payloadLength);
  write16(buf, off + Ipv4Field.Identification, repr.identification);
  write16(
    buf,
    off + Ipv4Field.FlagsFragment,
    (repr.reservedFlag ? IPV4_FLAG_RESERVED : 0) |
      (repr.dontFragment ? IPV4_FLAG_DF : 0) |
      (repr.moreFragments ? IPV4_FLAG_MF : 0) |
      repr.fragmentOffset,
  );
  buf[off + Ipv4Field.Ttl] = repr.ttl;
  buf[off + Ipv4Field.Protocol] = repr.protocol;
  write16(buf, off + Ipv4Field.Checksum, 0);
  write32(buf, off + Ipv4Field.Src, repr.src);
  write32(buf, off + Ipv4Field.Dst, repr.dst);
  buf.set(repr.options, off + IPV4_HEADER_LEN);
  write16(buf, off + Ipv4Field.Checksum, internetChecksum(buf, off, hl));
  return hl;
}
