/**
 * ICMP for IPv4 (RFC 792): echo request and reply, destination unreachable
 * (with the next-hop MTU of "fragmentation needed", RFC 1191), time
 * exceeded and parameter problem; every other type round-trips as "other"
 * with its 4-octet rest-of-header and data kept as they came. Unused fields
 * (which RFC 4884 and others put to use) are kept too, so every message
 * re-emits to the same octets.
 *
 * `checkIcmpv4` checks the 8-octet header and the checksum over the whole
 * message, whose length is the IP payload's. The error builders quote the
 * offending packet as RFC 792 asks, its IP header and the first 8 octets of
 * its payload (`icmpv4QuoteLength`), straight from the packet's buffer;
 * `icmpv4EchoToReply` answers an echo request in place.
 */
import {
  copyBytes,
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
import { checksumOk, internetChecksum, updateChecksum16 } from "./checksum.ts";

export const ICMPV4_HEADER_LEN = 8;
/** Octets of the offending packet's payload quoted after its header (RFC 792). */
export const ICMPV4_QUOTE_PAYLOAD = 8;

export const Icmpv4Field = {
  Type: 0,
  Code: 1,
  Checksum: 2,
  /** The 4-octet rest of header: identifier/sequence, unused/MTU, pointer... */
  Rest: 4,
  Data: 8,
} as const;

export const Icmpv4Type = {
  EchoReply: 0,
  DstUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  RouterAdvertisement: 9,
  RouterSolicitation: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
} as const;

/** Codes of Destination Unreachable (RFC 792, RFC 1122, RFC 1812). */
export const Icmpv4Unreachable = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  /** Fragmentation needed and DF set: carries the next-hop MTU (RFC 1191). */
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  NetUnknown: 6,
  HostUnknown: 7,
  SourceHostIsolated: 8,
  NetProhibited: 9,
  HostProhibited: 10,
  NetTos: 11,
  HostTos: 12,
  AdminProhibited: 13,
  HostPrecedenceViolation: 14,
  PrecedenceCutoff: 15,
} as const;

/** Codes of Time Exceeded. */
export const Icmpv4TimeExceeded = {
  Ttl: 0,
  Reassembly: 1,
} as const;

export const Icmpv4Error = {
  /** Fewer than 8 octets. */
  Truncated: 1,
  /** The checksum does not verify. */
  BadChecksum: 2,
} as const;
export type Icmpv4Error = (typeof Icmpv4Error)[keyof typeof Icmpv4Error];

export interface Icmpv4Echo {
  kind: "echoRequest" | "echoReply";
  code: number;
  identifier: number;
  sequence: number;
  data: Uint8Array;
}

export interface Icmpv4DstUnreachable {
  kind: "dstUnreachable";
  code: number;
  /** The upper 16 bits of the rest of header (unused in RFC 792 and RFC 1191). */
  unused: number;
  /** The next-hop MTU of code 4 (RFC 1191); 0 from older routers and for other codes. */
  nextHopMtu: number;
  /** The quoted offending packet. */
  invoking: Uint8Array;
}

export interface Icmpv4TimeExceededRepr {
  kind: "timeExceeded";
  code: number;
  /** The 32-bit rest of header, unused. */
  unused: number;
  invoking: Uint8Array;
}

export interface Icmpv4ParameterProblem {
  kind: "parameterProblem";
  code: number;
  /** Octet of the offending header where the problem is. */
  pointer: number;
  /** The lower 24 bits of the rest of header, unused. */
  unused: number;
  invoking: Uint8Array;
}

/** Any other type, kept as it came. */
export interface Icmpv4Other {
  kind: "other";
  type: number;
  code: number;
  /** The 32-bit rest of header. */
  rest: number;
  data: Uint8Array;
}

export type Icmpv4Repr =
  | Icmpv4Echo
  | Icmpv4DstUnreachable
  | Icmpv4TimeExceededRepr
  | Icmpv4ParameterProblem
  | Icmpv4Other;

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < ICMPV4_HEADER_LEN) return fault(Icmpv4Error.Truncated, len);
  if (!checksumOk(buf, off, len)) return fault(Icmpv4Error.BadChecksum, Icmpv4Field.Checksum);
  return 0;
}

/** Validates the ICMP message `(buf, off, len)` (len: the IP payload length): 0 or an Icmpv4Error. */
export function checkIcmpv4(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

/** Whether a type is an error message (never answered with another error, RFC 1122 3.2.2). */
export function icmpv4IsError(type: number): boolean {
  return (
    type === Icmpv4Type.DstUnreachable ||
    type === Icmpv4Type.SourceQuench ||
    type === Icmpv4Type.Redirect ||
    type === Icmpv4Type.TimeExceeded ||
    type === Icmpv4Type.ParameterProblem
  );
}

// ---- in-place accessors ----------------------------------------------------------

export function icmpv4Type(buf: Uint8Array, off: number): number {
  return buf[off];
}

export function icmpv4Code(buf: Uint8Array, off: number): number {
  return buf[off + 1];
}

/** The 32-bit rest of header. */
export function icmpv4Rest(buf: Uint8Array, off: number): number {
  return read32(buf, off + Icmpv4Field.Rest);
}

/** Identifier of an echo message. */
export function icmpv4EchoId(buf: Uint8Array, off: number): number {
  return read16(buf, off + 4);
}

/** Sequence number of an echo message. */
export function icmpv4EchoSeq(buf: Uint8Array, off: number): number {
  return read16(buf, off + 6);
}

/** Next-hop MTU of a "fragmentation needed" message. */
export function icmpv4NextHopMtu(buf: Uint8Array, off: number): number {
  return read16(buf, off + 6);
}

/** Recomputes and stores the checksum of the `len`-octet message at `off`. */
export function fillIcmpv4Checksum(buf: Uint8Array, off: number, len: number): void {
  write16(buf, off + Icmpv4Field.Checksum, 0);
  write16(buf, off + Icmpv4Field.Checksum, internetChecksum(buf, off, len));
}

/**
 * Turns the echo request at `off` into the echo reply in place (type 8 -> 0,
 * checksum updated incrementally); the IP header is the caller's.
 */
export function icmpv4EchoToReply(buf: Uint8Array, off: number): void {
  const from = read16(buf, off);
  buf[off] = Icmpv4Type.EchoReply;
  const to = read16(buf, off);
  write16(buf, off + 2, updateChecksum16(read16(buf, off + 2), from, to));
}

/**
 * Octets of the offending IPv4 packet `(inv, invOff, invLen)` an error quotes:
 * its header and 8 octets of its payload, no more than it has. A header
 * length below 20 (a packet that failed its check) counts as 20.
 */
export function icmpv4QuoteLength(inv: Uint8Array, invOff: number, invLen: number): number {
  let n = Math.max((inv[invOff] & 0xf) << 2, 20) + ICMPV4_QUOTE_PAYLOAD;
  if (invLen >= 4) {
    const total = read16(inv, invOff + 2);
    if (total >= 20 && total < n) n = total;
  }
  return Math.min(n, invLen);
}

/**
 * Writes an ICMP error message (`type`, `code`, the 32-bit rest of header)
 * quoting the offending IPv4 packet `(inv, invOff, invLen)`; answers the
 * message length. `inv` may be `buf` itself, even overlapping the message:
 * the quote is measured and moved (copyWithin) before the header is written.
 */
export function emitIcmpv4Error(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  rest: number,
  inv: Uint8Array,
  invOff: number,
  invLen: number,
): number {
  const quote = icmpv4QuoteLength(inv, invOff, invLen);
  const n = ICMPV4_HEADER_LEN + quote;
  needRoom(buf, off, n, "ICMP error");
  copyBytes(inv, invOff, buf, off + ICMPV4_HEADER_LEN, quote);
  buf[off] = type;
  buf[off + 1] = code;
  write32(buf, off + Icmpv4Field.Rest, rest);
  fillIcmpv4Checksum(buf, off, n);
  return n;
}

/** Time Exceeded (code Icmpv4TimeExceeded.Ttl in transit) quoting the offending packet. */
export function emitIcmpv4TimeExceeded(
  buf: Uint8Array,
  off: number,
  code: number,
  inv: Uint8Array,
  invOff: number,
  invLen: number,
): number {
  return emitIcmpv4Error(buf, off, Icmpv4Type.TimeExceeded, code, 0, inv, invOff, invLen);
}

/**
 * Destination Unreachable quoting the offending packet; `nextHopMtu` goes in
 * the low 16 bits of the rest of header (RFC 1191; give 0 for codes but 4).
 */
export function emitIcmpv4DstUnreachable(
  buf: Uint8Array,
  off: number,
  code: number,
  nextHopMtu: number,
  inv: Uint8Array,
  invOff: number,
  invLen: number,
): number {
  return emitIcmpv4Error(
    buf,
    off,
    Icmpv4Type.DstUnreachable,
    code,
    nextHopMtu & 0xffff,
    inv,
    invOff,
    invLen,
  );
}

// ---- repr ----------------------------------------------------------------------

export function parseIcmpv4(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<Icmpv4Repr, Icmpv4Error> {
  const f = validate(buf, off, len);
  if (f !== 0) return failure(f);
  const type = buf[off];
  const code = buf[off + 1];
  const rest = read32(buf, off + Icmpv4Field.Rest);
  const data = buf.slice(off + ICMPV4_HEADER_LEN, off + len);
  let repr: Icmpv4Repr;
  switch (type) {
    case Icmpv4Type.EchoRequest:
    case Icmpv4Type.EchoReply:
      repr = {
        kind: type === Icmpv4Type.EchoRequest ? "echoRequest" : "echoReply",
        code,
        identifier: rest >>> 16,
        sequence: rest & 0xffff,
        data,
      };
      break;
    case Icmpv4Type.DstUnreachable:
      repr = {
        kind: "dstUnreachable",
        code,
        unused: rest >>> 16,
        nextHopMtu: rest & 0xffff,
        invoking: data,
      };
      break;
    case Icmpv4Type.TimeExceeded:
      repr = { kind: "timeExceeded", code, unused: rest, invoking: data };
      break;
    case Icmpv4Type.ParameterProblem:
      repr = {
        kind: "parameterProblem",
        code,
        pointer: rest >>> 24,
        unused: rest & 0xffffff,
        invoking: data,
      };
      break;
    default:
      repr = { kind: "other", type, code, rest, data };
  }
  return { ok: true, repr };
}

/** The type, rest of header and data of a repr. */
function layout(repr: Icmpv4Repr): { type: number; rest: number; data: Uint8Array } {
  switch (repr.kind) {
    case "echoRequest":
    case "echoReply":
      needUint(repr.identifier, 0xffff, "echo identifier");
      needUint(repr.sequence, 0xffff, "echo sequence");
      return {
        type: repr.kind === "echoRequest" ? Icmpv4Type.EchoRequest : Icmpv4Type.EchoReply,
        rest: repr.identifier * 0x10000 + repr.sequence,
        data: repr.data,
      };
    case "dstUnreachable":
      needUint(repr.unused, 0xffff, "unused");
      needUint(repr.nextHopMtu, 0xffff, "next-hop MTU");
      return {
        type: Icmpv4Type.DstUnreachable,
        rest: repr.unused * 0x10000 + repr.nextHopMtu,
        data: repr.invoking,
      };
    case "timeExceeded":
      needUint(repr.unused, 0xffffffff, "unused");
      return { type: Icmpv4Type.TimeExceeded, rest: repr.unused, data: repr.invoking };
    case "parameterProblem":
      needUint(repr.pointer, 0xff, "pointer");
      needUint(repr.unused, 0xffffff, "unused");
      return {
        type: Icmpv4Type.ParameterProblem,
        rest: repr.pointer * 0x1000000 + repr.unused,
        data: repr.invoking,
      };
    case "other":
      needUint(repr.type, 0xff, "ICMP type");
      needUint(repr.rest, 0xffffffff, "rest of header");
      return { type: repr.type, rest: repr.rest, data: repr.data };
  }
}

/** Octets `repr` takes. */
export function icmpv4ReprLen(repr: Icmpv4Repr): number {
  return ICMPV4_HEADER_LEN + ("data" in repr ? repr.data.length : repr.invoking.length);
}

/** Writes `repr` as a whole message with its checksum; answers its length. */
export function emitIcmpv4(repr: Icmpv4Repr, buf: Uint8Array, off: number): number {
  const { type, rest, data } = layout(repr);
  needUint(repr.code, 0xff, "ICMP code");
  const n = ICMPV4_HEADER_LEN + data.length;
  needRoom(buf, off, n, "ICMP message");
  buf[off] = type;
  buf[off + 1] = repr.code;
  write32(buf, off + Icmpv4Field.Rest, rest);
  buf.set(data, off + ICMPV4_HEADER_LEN);
  fillIcmpv4Checksum(buf, off, n);
  return n;
}
