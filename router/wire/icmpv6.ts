/**
 * ICMPv6 (RFC 4443): echo request and reply, destination unreachable,
 * packet too big, time exceeded and parameter problem; every other type
 * (NDP, see ndp.ts; MLD; unknown ones) round-trips as "other" with its body
 * kept as it came. Unused fields are kept too, so every message re-emits to
 * the same octets.
 *
 * The checksum covers the IPv6 pseudo-header (RFC 8200 section 8.1). The
 * functions here take `pseudo`, the pseudo-header sum *without* its length
 * (`ipv6PseudoSum(src, dst, 58)` or `ipv6PseudoSumAt(buf, ipOff, 58)` of
 * checksum.ts), and add the message length themselves.
 *
 * The error builders quote as much of the offending packet as fits in an
 * error packet of the IPv6 minimum MTU, 1280 octets (RFC 4443 2.4(c)):
 * ICMPV6_MAX_QUOTE octets after a 40-octet IPv6 header and the 8-octet
 * ICMPv6 header. `icmpv6IsError` tells which messages must never be
 * answered with an error (RFC 4443 2.4(e)).
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

/** Type, code and checksum: the least any message has. */
export const ICMPV6_MIN_LEN = 4;
/** Header of the error and echo messages (with their 32-bit field). */
export const ICMPV6_HEADER_LEN = 8;
/** Largest quote in an error sent in a 1280-octet packet with a bare IPv6 header. */
export const ICMPV6_MAX_QUOTE = 1280 - 40 - ICMPV6_HEADER_LEN;

export const Icmpv6Field = {
  Type: 0,
  Code: 1,
  Checksum: 2,
  /** The 32-bit field of the error and echo messages: MTU, pointer, identifier/sequence. */
  Param: 4,
  Data: 8,
} as const;

export const Icmpv6Type = {
  DstUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  MldQuery: 130,
  MldReport: 131,
  MldDone: 132,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
  Mldv2Report: 143,
} as const;

/** Codes of Destination Unreachable. */
export const Icmpv6Unreachable = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  Address: 3,
  Port: 4,
  SourcePolicy: 5,
  RejectRoute: 6,
} as const;

/** Codes of Time Exceeded. */
export const Icmpv6TimeExceeded = {
  HopLimit: 0,
  Reassembly: 1,
} as const;

/** Codes of Parameter Problem (RFC 4443, RFC 7112). */
export const Icmpv6ParamProblem = {
  Header: 0,
  NextHeader: 1,
  Option: 2,
  IncompleteChain: 3,
} as const;

export const Icmpv6Error = {
  /** Fewer than 4 octets, or fewer than 8 for an error or echo message. */
  Truncated: 1,
  /** The checksum does not verify. */
  BadChecksum: 2,
} as const;
export type Icmpv6Error = (typeof Icmpv6Error)[keyof typeof Icmpv6Error];

export interface Icmpv6Echo {
  kind: "echoRequest" | "echoReply";
  code: number;
  identifier: number;
  sequence: number;
  data: Uint8Array;
}

export interface Icmpv6DstUnreachable {
  kind: "dstUnreachable";
  code: number;
  /** The 32-bit field, unused. */
  unused: number;
  invoking: Uint8Array;
}

export interface Icmpv6PacketTooBig {
  kind: "packetTooBig";
  code: number;
  /** MTU of the next-hop link. */
  mtu: number;
  invoking: Uint8Array;
}

export interface Icmpv6TimeExceededRepr {
  kind: "timeExceeded";
  code: number;
  unused: number;
  invoking: Uint8Array;
}

export interface Icmpv6ParameterProblem {
  kind: "parameterProblem";
  code: number;
  /** Octet offset in the invoking packet where the problem is. */
  pointer: number;
  invoking: Uint8Array;
}

/** Any other type (NDP, MLD, unknown), kept as it came. */
export interface Icmpv6Other {
  kind: "other";
  type: number;
  code: number;
  /** Octets after the checksum. */
  body: Uint8Array;
}

export type Icmpv6Repr =
  | Icmpv6Echo
  | Icmpv6DstUnreachable
  | Icmpv6PacketTooBig
  | Icmpv6TimeExceededRepr
  | Icmpv6ParameterProblem
  | Icmpv6Other;

/** Whether a type is an error message (types 0..127). */
export function icmpv6IsError(type: number): boolean {
  return type < 128;
}

/** Whether a type has the 8-octet header (the RFC 4443 errors and echo). */
function hasParam(type: number): boolean {
  return (type >= 1 && type <= 4) || type === 128 || type === 129;
}

function validate(buf: Uint8Array, off: number, len: number, pseudo: number): number {
  if (len < ICMPV6_MIN_LEN) return fault(Icmpv6Error.Truncated, len);
  if (len < ICMPV6_HEADER_LEN && hasParam(buf[off])) return fault(Icmpv6Error.Truncated, len);
  if (!checksumOk(buf, off, len, pseudo + len)) {
    return fault(Icmpv6Error.BadChecksum, Icmpv6Field.Checksum);
  }
  return 0;
}

/**
 * Validates the ICMPv6 message `(buf, off, len)` (len: the upper-layer
 * length) against the pseudo-header sum `pseudo` (without its length):
 * 0 or an Icmpv6Error.
 */
export function checkIcmpv6(buf: Uint8Array, off: number, len: number, pseudo: number): number {
  return validate(buf, off, len, pseudo) % 256;
}

// ---- in-place accessors ----------------------------------------------------------

export function icmpv6Type(buf: Uint8Array, off: number): number {
  return buf[off];
}

export function icmpv6Code(buf: Uint8Array, off: number): number {
  return buf[off + 1];
}

/** The 32-bit field of an error or echo message. */
export function icmpv6Param(buf: Uint8Array, off: number): number {
  return read32(buf, off + Icmpv6Field.Param);
}

/** Identifier of an echo message. */
export function icmpv6EchoId(buf: Uint8Array, off: number): number {
  return read16(buf, off + 4);
}

/** Sequence number of an echo message. */
export function icmpv6EchoSeq(buf: Uint8Array, off: number): number {
  return read16(buf, off + 6);
}

/** Recomputes and stores the checksum of the `len`-octet message at `off`. */
export function fillIcmpv6Checksum(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudo: number,
): void {
  write16(buf, off + Icmpv6Field.Checksum, 0);
  write16(buf, off + Icmpv6Field.Checksum, internetChecksum(buf, off, len, pseudo + len));
}

/**
 * Turns the echo request at `off` into the echo reply in place (type 128 ->
 * 129, checksum updated incrementally). Swapping the IPv6 addresses leaves
 * the pseudo-header sum as it was; choosing another source does not.
 */
export function icmpv6EchoToReply(buf: Uint8Array, off: number): void {
  const from = read16(buf, off);
  buf[off] = Icmpv6Type.EchoReply;
  const to = read16(buf, off);
  write16(buf, off + 2, updateChecksum16(read16(buf, off + 2), from, to));
}

/** Octets of an offending packet of `invLen` octets that an error quotes. */
export function icmpv6QuoteLength(invLen: number): number {
  return Math.min(invLen, ICMPV6_MAX_QUOTE);
}

/**
 * Writes an ICMPv6 error (`type`, `code`, the 32-bit `param`: MTU, pointer
 * or 0) quoting the offending packet `(inv, invOff, invLen)` up to the
 * minimum MTU, with its checksum over `pseudo` (the pseudo-header sum of the
 * error's own IPv6 header, without length); answers the message length.
 * `inv` may be `buf` itself, even overlapping the message.
 */
export function emitIcmpv6Error(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  param: number,
  inv: Uint8Array,
  invOff: number,
  invLen: number,
  pseudo: number,
): number {
  const quote = icmpv6QuoteLength(invLen);
  const n = ICMPV6_HEADER_LEN + quote;
  needRoom(buf, off, n, "ICMPv6 error");
  copyBytes(inv, invOff, buf, off + ICMPV6_HEADER_LEN, quote);
  buf[off] = type;
  buf[off + 1] = code;
  write32(buf, off + Icmpv6Field.Param, param);
  fillIcmpv6Checksum(buf, off, n, pseudo);
  return n;
}

// ---- repr ----------------------------------------------------------------------

export function parseIcmpv6(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudo: number,
): ParseResult<Icmpv6Repr, Icmpv6Error> {
  const f = validate(buf, off, len, pseudo);
  if (f !== 0) return failure(f);
  const type = buf[off];
  const code = buf[off + 1];
  if (!hasParam(type)) {
    return { ok: true, repr: { kind: "other", type, code, body: buf.slice(off + 4, off + len) } };
  }
  const param = read32(buf, off + Icmpv6Field.Param);
  const data = buf.slice(off + ICMPV6_HEADER_LEN, off + len);
  let repr: Icmpv6Repr;
  switch (type) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      repr = {
        kind: type === Icmpv6Type.EchoRequest ? "echoRequest" : "echoReply",
        code,
        identifier: param >>> 16,
        sequence: param & 0xffff,
        data,
      };
      break;
    case Icmpv6Type.DstUnreachable:
      repr = { kind: "dstUnreachable", code, unused: param, invoking: data };
      break;
    case Icmpv6Type.PacketTooBig:
      repr = { kind: "packetTooBig", code, mtu: param, invoking: data };
      break;
    case Icmpv6Type.TimeExceeded:
      repr = { kind: "timeExceeded", code, unused: param, invoking: data };
      break;
    default:
      repr = { kind: "parameterProblem", code, pointer: param, invoking: data };
  }
  return { ok: true, repr };
}

/** Type, the 32-bit field (-1 for "other") and the octets after it. */
function layout(repr: Icmpv6Repr): { type: number; param: number; data: Uint8Array } {
  switch (repr.kind) {
    case "echoRequest":
    case "echoReply":
      needUint(repr.identifier, 0xffff, "echo identifier");
      needUint(repr.sequence, 0xffff, "echo sequence");
      return {
        type: repr.kind === "echoRequest" ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply,
        param: repr.identifier * 0x10000 + repr.sequence,
        data: repr.data,
      };
    case "dstUnreachable":
      needUint(repr.unused, 0xffffffff, "unused");
      return { type: Icmpv6Type.DstUnreachable, param: repr.unused, data: repr.invoking };
    case "packetTooBig":
      needUint(repr.mtu, 0xffffffff, "MTU");
      return { type: Icmpv6Type.PacketTooBig, param: repr.mtu, data: repr.invoking };
    case "timeExceeded":
      needUint(repr.unused, 0xffffffff, "unused");
      return { type: Icmpv6Type.TimeExceeded, param: repr.unused, data: repr.invoking };
    case "parameterProblem":
      needUint(repr.pointer, 0xffffffff, "pointer");
      return { type: Icmpv6Type.ParameterProblem, param: repr.pointer, data: repr.invoking };
    case "other":
      needUint(repr.type, 0xff, "ICMPv6 type");
      if (hasParam(repr.type)) {
        throw new RangeError(`ICMPv6 type ${repr.type} has its own repr kind`);
      }
      return { type: repr.type, param: -1, data: repr.body };
  }
}

/** Octets `repr` takes. */
export function icmpv6ReprLen(repr: Icmpv6Repr): number {
  if (repr.kind === "other") return ICMPV6_MIN_LEN + repr.body.length;
  return ICMPV6_HEADER_LEN + ("data" in repr ? repr.data.length : repr.invoking.length);
}

/**
 * Writes `repr` as a whole message, its checksum over `pseudo` (the
 * pseudo-header sum without length); answers its length.
 */
export function emitIcmpv6(repr: Icmpv6Repr, buf: Uint8Array, off: number, pseudo: number): number {
  const { type, param, data } = layout(repr);
  needUint(repr.code, 0xff, "ICMPv6 code");
  const head = param < 0 ? ICMPV6_MIN_LEN : ICMPV6_HEADER_LEN;
  const n = head + data.length;
  needRoom(buf, off, n, "ICMPv6 message");
  buf[off] = type;
  buf[off + 1] = repr.code;
  if (param >= 0) write32(buf, off + Icmpv6Field.Param, param);
  buf.set(data, off + head);
  fillIcmpv6Checksum(buf, off, n, pseudo);
  return n;
}
