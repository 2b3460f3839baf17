/**
 * IPv6 headers (RFC 8200) and a bounded walk of their extension headers.
 *
 * `checkIpv6` validates the fixed header as a router forwarding the packet
 * needs it: 40 octets, version 6, and a payload length that fits in the
 * input (octets past it, Ethernet padding, are ignored). Jumbograms
 * (RFC 2675, payload length 0 with a Jumbo option) are not supported: such a
 * packet reads as one with an empty payload.
 *
 * `ipv6WalkChain` follows the Next Header chain through the extension
 * headers RFC 8200 defines (Hop-by-Hop Options, Routing, Fragment,
 * Destination Options) and the Authentication Header (RFC 4302, whose length
 * counts 4-octet units) to find the upper-layer protocol and its offset, for
 * the host stack and for ICMPv6 error decisions. Any other Next Header value
 * (ESP, No Next Header, unknown ones) ends the walk and is reported as the
 * upper-layer protocol, unchanged. The walk is bounded by
 * IPV6_MAX_EXT_HEADERS, and reports as malformed a header that runs past the
 * payload, a Hop-by-Hop header anywhere but first, and a chain too long. At
 * a non-first fragment (offset not 0) it stops after the Fragment header:
 * what follows is the middle of the fragmentable part (RFC 8200 4.5), so the
 * protocol reported is the Fragment header's Next Header and `fragmentAt`
 * tells the caller so. The results go to a caller-owned `Ipv6Chain`, so the
 * walk allocates nothing; its offsets, like `at` of the errors, count from
 * the start of the IPv6 header (an ICMPv6 Parameter Problem pointer).
 *
 * Addresses are read into a caller's Uint32Array of four words, most
 * significant first, the form fib/ looks up.
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
import { IpProtocol } from "./ip.ts";

export const IPV6_VERSION = 6;
export const IPV6_HEADER_LEN = 40;
/** Every link must carry packets of this size (RFC 8200 section 5). */
export const IPV6_MIN_MTU = 1280;
/** Extension headers the walk follows before it gives up. */
export const IPV6_MAX_EXT_HEADERS = 8;
/** The Fragment header's fixed length. */
export const IPV6_FRAGMENT_HEADER_LEN = 8;
export const IPV6_MAX_PAYLOAD_LEN = 0xffff;

/** Offsets of the fixed header's fields. */
export const Ipv6Field = {
  VersionClassFlow: 0,
  PayloadLength: 4,
  NextHeader: 6,
  HopLimit: 7,
  Src: 8,
  Dst: 24,
} as const;

export const Ipv6Error = {
  /** The input ends before the fixed header or before the payload length. */
  Truncated: 1,
  /** Version is not 6. */
  BadVersion: 2,
  /** An extension header runs past the payload. */
  ExtTruncated: 3,
  /** A Hop-by-Hop Options header after the first position (`at`: the Next Header naming it). */
  HopByHopNotFirst: 4,
  /** More than IPV6_MAX_EXT_HEADERS extension headers (`at`: the header past the limit). */
  ChainTooLong: 5,
} as const;
export type Ipv6Error = (typeof Ipv6Error)[keyof typeof Ipv6Error];

/** What `ipv6WalkChain` found; offsets count from the start of the IPv6 header. */
export interface Ipv6Chain {
  /** The upper-layer protocol (the last Next Header value of the chain). */
  protocol: number;
  /** Offset of the upper-layer header. */
  offset: number;
  /** Offset of the Next Header field that holds `protocol` (6, or inside an extension header). */
  protocolAt: number;
  /** End of the packet: 40 + payload length. */
  end: number;
  /** Extension headers walked. */
  headers: number;
  /** Offset of the Fragment header, -1 when there is none. */
  fragmentAt: number;
  /** Where the walk found the chain malformed (when it answered an error). */
  errorAt: number;
}

/** A fresh, reusable walk result. */
export function newIpv6Chain(): Ipv6Chain {
  return { protocol: 0, offset: 0, protocolAt: 0, end: 0, headers: 0, fragmentAt: -1, errorAt: 0 };
}

/** Whether a Next Header value names an extension header the walk follows. */
export function ipv6IsExtHeader(nextHeader: number): boolean {
  return (
    nextHeader === IpProtocol.HopByHop ||
    nextHeader === IpProtocol.Routing ||
    nextHeader === IpProtocol.Fragment ||
    nextHeader === IpProtocol.DestinationOptions ||
    nextHeader === IpProtocol.Ah
  );
}

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < IPV6_HEADER_LEN) return fault(Ipv6Error.Truncated, len);
  if (buf[off] >>> 4 !== IPV6_VERSION) return fault(Ipv6Error.BadVersion, 0);
  if (IPV6_HEADER_LEN + read16(buf, off + Ipv6Field.PayloadLength) > len) {
    return fault(Ipv6Error.Truncated, len);
  }
  return 0;
}

/** Validates the fixed header of the IPv6 packet `(buf, off, len)`: 0 or an Ipv6Error. */
export function checkIpv6(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

function walk(buf: Uint8Array, off: number, len: number, out: Ipv6Chain): number {
  const f = validate(buf, off, len);
  if (f !== 0) return f;
  const end = IPV6_HEADER_LEN + read16(buf, off + Ipv6Field.PayloadLength);
  let nh = buf[off + Ipv6Field.NextHeader];
  let nhAt: number = Ipv6Field.NextHeader;
  let pos = IPV6_HEADER_LEN;
  let count = 0;
  out.end = end;
  out.fragmentAt = -1;
  for (;;) {
    const type = nh;
    if (type === IpProtocol.HopByHop) {
      if (pos !== IPV6_HEADER_LEN) return fault(Ipv6Error.HopByHopNotFirst, nhAt);
    } else if (
      type !== IpProtocol.Routing &&
      type !== IpProtocol.DestinationOptions &&
      type !== IpProtocol.Fragment &&
      type !== IpProtocol.Ah
    ) {
      break;
    }
    if (count === IPV6_MAX_EXT_HEADERS) return fault(Ipv6Error.ChainTooLong, pos);
    if (pos + 2 > end) return fault(Ipv6Error.ExtTruncated, pos);
    const lenOctet = buf[off + pos + 1];
    const hlen =
      type === IpProtocol.Fragment
        ? IPV6_FRAGMENT_HEADER_LEN
        : type === IpProtocol.Ah
          ? (lenOctet + 2) << 2
          : (lenOctet + 1) << 3;
    if (pos + hlen > end) return fault(Ipv6Error.ExtTruncated, pos);
    count++;
    nhAt = pos;
    nh = buf[off + pos];
    pos += hlen;
    if (type === IpProtocol.Fragment) {
      out.fragmentAt = nhAt;
      // A non-first fragment: what follows is not a header.
      if ((read16(buf, off + nhAt + 2) & 0xfff8) !== 0) break;
    }
  }
  out.protocol = nh;
  out.offset = pos;
  out.protocolAt = nhAt;
  out.headers = count;
  return 0;
}

/**
 * Walks the extension headers of the IPv6 packet `(buf, off, len)` (fixed
 * header validated too) into `out`; answers 0 or an Ipv6Error, with
 * `out.errorAt` set to where the chain is malformed.
 */
export function ipv6WalkChain(buf: Uint8Array, off: number, len: number, out: Ipv6Chain): number {
  const f = walk(buf, off, len, out);
  if (f === 0) return 0;
  out.errorAt = Math.floor(f / 256);
  return f % 256;
}

// ---- in-place accessors (on a checked header) --------------------------------

export function ipv6Version(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}

export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return (read16(buf, off) >>> 4) & 0xff;
}

export function ipv6FlowLabel(buf: Uint8Array, off: number): number {
  return read32(buf, off) & 0xfffff;
}

export function ipv6PayloadLen(buf: Uint8Array, off: number): number {
  return read16(buf, off + Ipv6Field.PayloadLength);
}

/** The fixed header's Next Header (an extension header or the upper layer). */
export function ipv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + Ipv6Field.NextHeader];
}

export function ipv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + Ipv6Field.HopLimit];
}

export function setIpv6HopLimit(buf: Uint8Array, off: number, hopLimit: number): void {
  buf[off + Ipv6Field.HopLimit] = hopLimit;
}

/** Decrements a non-zero hop limit; answers the new one (0 stays 0). No checksum to update. */
export function ipv6DecrementHopLimit(buf: Uint8Array, off: number): number {
  const at = off + Ipv6Field.HopLimit;
  const hl = buf[at];
  if (hl === 0) return 0;
  buf[at] = hl - 1;
  return hl - 1;
}

function readAddr(buf: Uint8Array, at: number, out: Uint32Array, outOff: number): void {
  out[outOff] = read32(buf, at);
  out[outOff + 1] = read32(buf, at + 4);
  out[outOff + 2] = read32(buf, at + 8);
  out[outOff + 3] = read32(buf, at + 12);
}

function writeAddr(buf: Uint8Array, at: number, words: ArrayLike<number>, wOff: number): void {
  write32(buf, at, words[wOff]);
  write32(buf, at + 4, words[wOff + 1]);
  write32(buf, at + 8, words[wOff + 2]);
  write32(buf, at + 12, words[wOff + 3]);
}

function addrEquals(buf: Uint8Array, at: number, words: ArrayLike<number>, wOff: number): boolean {
  return (
    read32(buf, at + 12) === words[wOff + 3] &&
    read32(buf, at + 8) === words[wOff + 2] &&
    read32(buf, at + 4) === words[wOff + 1] &&
    read32(buf, at) === words[wOff]
  );
}

/** Reads the source address into `out[outOff .. outOff + 3]`. */
export function ipv6Src(buf: Uint8Array, off: number, out: Uint32Array, outOff = 0): void {
  readAddr(buf, off + Ipv6Field.Src, out, outOff);
}

/** Reads the destination address into `out[outOff .. outOff + 3]`. */
export function ipv6Dst(buf: Uint8Array, off: number, out: Uint32Array, outOff = 0): void {
  readAddr(buf, off + Ipv6Field.Dst, out, outOff);
}

export function setIpv6Src(buf: Uint8Array, off: number, words: ArrayLike<number>, wOff = 0): void {
  writeAddr(buf, off + Ipv6Field.Src, words, wOff);
}

export function setIpv6Dst(buf: Uint8Array, off: number, words: ArrayLike<number>, wOff = 0): void {
  writeAddr(buf, off + Ipv6Field.Dst, words, wOff);
}

export function ipv6SrcEquals(
  buf: Uint8Array,
  off: number,
  words: ArrayLike<number>,
  wOff = 0,
): boolean {
  return addrEquals(buf, off + Ipv6Field.Src, words, wOff);
}

export function ipv6DstEquals(
  buf: Uint8Array,
  off: number,
  words: ArrayLike<number>,
  wOff = 0,
): boolean {
  return addrEquals(buf, off + Ipv6Field.Dst, words, wOff);
}

/** Whether the destination is multicast (ff00::/8). */
export function ipv6DstIsMulticast(buf: Uint8Array, off: number): boolean {
  return buf[off + Ipv6Field.Dst] === 0xff;
}

/** Whether the source is link-local (fe80::/10). */
export function ipv6SrcIsLinkLocal(buf: Uint8Array, off: number): boolean {
  return buf[off + Ipv6Field.Src] === 0xfe && (buf[off + Ipv6Field.Src + 1] & 0xc0) === 0x80;
}

/** Whether the source is the unspecified address ::. */
export function ipv6SrcIsUnspecified(buf: Uint8Array, off: number): boolean {
  for (let i = off + Ipv6Field.Src; i < off + Ipv6Field.Dst; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Fragment offset (8-octet units) of the Fragment header at `fragOff`. */
export function ipv6FragmentOffset(buf: Uint8Array, fragOff: number): number {
  return read16(buf, fragOff + 2) >>> 3;
}

/** The M flag of the Fragment header at `fragOff`. */
export function ipv6MoreFragments(buf: Uint8Array, fragOff: number): boolean {
  return (buf[fragOff + 3] & 1) !== 0;
}

/** Identification of the Fragment header at `fragOff`. */
export function ipv6FragmentId(buf: Uint8Array, fragOff: number): number {
  return read32(buf, fragOff + 4);
}

// ---- repr ----------------------------------------------------------------------

/**
 * One extension header: its type (the Next Header value that names it) and
 * its octets after its own Next Header octet, as on the wire (for all but
 * the Fragment header the first of them is the length octet). The Next
 * Header octets are not kept: emitting a chain links it.
 */
export interface Ipv6ExtHeader {
  type: number;
  data: Uint8Array;
}

export interface Ipv6Repr {
  /** Traffic class, 0..255. */
  trafficClass: number;
  /** Flow label, 0..0xFFFFF. */
  flowLabel: number;
  hopLimit: number;
  /** Four 32-bit words, most significant first. */
  src: Uint32Array;
  dst: Uint32Array;
  /** The extension headers walked, in order (Ipv6Chain's rules). */
  extensions: Ipv6ExtHeader[];
  /** The upper-layer protocol: the Next Header of the last extension header, or of the fixed header. */
  protocol: number;
  /** Octets after the chain (the payload length minus the extension headers). */
  payloadLength: number;
}

const scratch = newIpv6Chain();

export function parseIpv6(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<Ipv6Repr, Ipv6Error> {
  const f = walk(buf, off, len, scratch);
  if (f !== 0) return failure(f);
  const extensions: Ipv6ExtHeader[] = [];
  let type = buf[off + Ipv6Field.NextHeader];
  let pos = IPV6_HEADER_LEN;
  for (let i = 0; i < scratch.headers; i++) {
    const lenOctet = buf[off + pos + 1];
    const hlen =
      type === IpProtocol.Fragment
        ? IPV6_FRAGMENT_HEADER_LEN
        : type === IpProtocol.Ah
          ? (lenOctet + 2) << 2
          : (lenOctet + 1) << 3;
    extensions.push({ type, data: buf.slice(off + pos + 1, off + pos + hlen) });
    type = buf[off + pos];
    pos += hlen;
  }
  const src = new Uint32Array(4);
  const dst = new Uint32Array(4);
  ipv6Src(buf, off, src);
  ipv6Dst(buf, off, dst);
  return {
    ok: true,
    repr: {
      trafficClass: ipv6TrafficClass(buf, off),
      flowLabel: ipv6FlowLabel(buf, off),
      hopLimit: ipv6HopLimit(buf, off),
      src,
      dst,
      extensions,
      protocol: scratch.protocol,
      payloadLength: scratch.end - scratch.offset,
    },
  };
}

/** The length an extension header's own octets announce. */
function extLenOf(ext: Ipv6ExtHeader): number {
  if (ext.type === IpProtocol.Fragment) return IPV6_FRAGMENT_HEADER_LEN;
  if (ext.data.length === 0) return 0;
  return ext.type === IpProtocol.Ah ? (ext.data[0] + 2) << 2 : (ext.data[0] + 1) << 3;
}

/** Octets of the fixed header and the extension headers of a repr. */
export function ipv6ReprHeaderLen(repr: Ipv6Repr): number {
  let n = IPV6_HEADER_LEN;
  for (const ext of repr.extensions) n += 1 + ext.data.length;
  return n;
}

/**
 * Writes the fixed header and the extension headers of `repr`, linking their
 * Next Header fields; answers the octets written (the upper layer's offset).
 * The upper-layer payload, `repr.payloadLength` octets, is the caller's.
 */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array, off: number): number {
  const hl = ipv6ReprHeaderLen(repr);
  needRoom(buf, off, hl, "IPv6 header");
  needUint(repr.payloadLength + hl - IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD_LEN, "IPv6 payload length");
  needUint(repr.trafficClass, 0xff, "traffic class");
  needUint(repr.flowLabel, 0xfffff, "flow label");
  needUint(repr.hopLimit, 255, "hop limit");
  needUint(repr.protocol, 255, "upper-layer protocol");
  for (const ext of repr.extensions) {
    needUint(ext.type, 255, "extension header type");
    if (extLenOf(ext) !== 1 + ext.data.length || ext.data.length % 8 !== 7) {
      throw new RangeError(
        `IPv6 extension header ${ext.type} of ${1 + ext.data.length} octets: ` +
          "not a multiple of 8 or not the length its length octet says",
      );
    }
  }
  write32(buf, off, (IPV6_VERSION << 28) | (repr.trafficClass << 20) | repr.flowLabel);
  write16(buf, off + Ipv6Field.PayloadLength, hl - IPV6_HEADER_LEN + repr.payloadLength);
  const exts = repr.extensions;
  buf[off + Ipv6Field.NextHeader] = exts.length > 0 ? exts[0].type : repr.protocol;
  buf[off + Ipv6Field.HopLimit] = repr.hopLimit;
  writeAddr(buf, off + Ipv6Field.Src, repr.src, 0);
  writeAddr(buf, off + Ipv6Field.Dst, repr.dst, 0);
  let pos = off + IPV6_HEADER_LEN;
  for (let i = 0; i < exts.length; i++) {
    buf[pos] = i + 1 < exts.length ? exts[i + 1].type : repr.protocol;
    buf.set(exts[i].data, pos + 1);
    pos += 1 + exts[i].data.length;
  }
  return hl;
}

// ---- extension header builders ---------------------------------------------------

/** Pad1 and PadN option types (RFC 8200 section 4.2). */
export const IPV6_OPT_PAD1 = 0;
export const IPV6_OPT_PADN = 1;

/**
 * A Hop-by-Hop or Destination Options header holding `options` (TLV octets
 * as on the wire), padded with Pad1/PadN to a multiple of 8.
 */
export function ipv6OptionsHeader(
  type: typeof IpProtocol.HopByHop | typeof IpProtocol.DestinationOptions,
  options: Uint8Array,
): Ipv6ExtHeader {
  const total = (2 + options.length + 7) & ~7;
  if (total > 2048) throw new RangeError(`IPv6 options of ${options.length} octets do not fit`);
  const data = new Uint8Array(total - 1);
  data[0] = total / 8 - 1;
  data.set(options, 1);
  const pad = total - 2 - options.length;
  if (pad === 1) data[1 + options.length] = IPV6_OPT_PAD1;
  else if (pad > 1) {
    data[1 + options.length] = IPV6_OPT_PADN;
    data[2 + options.length] = pad - 2;
  }
  return { type, data };
}

/** A Routing header: routing type, segments left and the type-specific octets (padded with zeros to a multiple of 8). */
export function ipv6RoutingHeader(
  routingType: number,
  segmentsLeft: number,
  typeData: Uint8Array,
): Ipv6ExtHeader {
  const total = (4 + typeData.length + 7) & ~7;
  if (total > 2048)
    throw new RangeError(`IPv6 routing data of ${typeData.length} octets does not fit`);
  const data = new Uint8Array(total - 1);
  data[0] = total / 8 - 1;
  data[1] = routingType;
  data[2] = segmentsLeft;
  data.set(typeData, 3);
  return { type: IpProtocol.Routing, data };
}

/** A Fragment header (offset in 8-octet units). */
export function ipv6FragmentHeader(
  fragmentOffset: number,
  moreFragments: boolean,
  identification: number,
): Ipv6ExtHeader {
  needUint(fragmentOffset, 0x1fff, "fragment offset");
  needUint(identification, 0xffffffff, "fragment identification");
  const data = new Uint8Array(7);
  write16(data, 1, (fragmentOffset << 3) | (moreFragments ? 1 : 0));
  write32(data, 3, identification);
  return { type: IpProtocol.Fragment, data };
}

/** An Authentication Header (RFC 4302): SPI, sequence number and ICV, zero-padded to a multiple of 8 octets. */
export function ipv6AuthHeader(spi: number, sequence: number, icv: Uint8Array): Ipv6ExtHeader {
  const total = (12 + icv.length + 7) & ~7;
  if (total > 1028) throw new RangeError(`AH ICV of ${icv.length} octets does not fit`);
  const data = new Uint8Array(total - 1);
  data[0] = total / 4 - 2;
  write32(data, 3, spi);
  write32(data, 7, sequence);
  data.set(icv, 11);
  return { type: IpProtocol.Ah, data };
}
