/**
 * Neighbor Discovery for IPv6 (RFC 4861): router solicitation and
 * advertisement, neighbor solicitation and advertisement, redirect; the
 * messages are ICMPv6 types 133..137 and `(buf, off, len)` is the ICMPv6
 * message (checksum included, which `checkIcmpv6` verifies, not this module).
 *
 * `checkNdp` applies the message-format checks of RFC 4861 sections 6.1 and
 * 7.1 that need no IP context: code 0, the fixed part present, a target (and
 * a redirect destination) that is not multicast, and options walked with
 * their length checks (no option of length 0, none past the end). The IP
 * context (hop limit 255, the source address rules) is the host stack's:
 * `NDP_HOP_LIMIT` is here for it.
 *
 * Options: source/target link-layer address (for Ethernet: 8 octets, one
 * MAC), prefix information, MTU; every other option, and a known one with a
 * length its repr cannot carry, is kept raw, so messages re-emit unchanged.
 * The hot path finds an option in place with `ndpFindOption`.
 *
 * Also here, for neighbour resolution over Ethernet: the solicited-node
 * multicast address (RFC 4291 2.7.1) and the multicast MAC of an IPv6
 * address (RFC 2464 section 7).
 */
import {
  failure,
  fault,
  needRoom,
  needUint,
  type ParseResult,
  read32,
  read48,
  write32,
  write48,
} from "./bytes.ts";
import { fillIcmpv6Checksum, Icmpv6Type } from "./icmpv6.ts";

/** Hop limit every NDP message must arrive with. */
export const NDP_HOP_LIMIT = 255;

/** Offsets in the message (from the ICMPv6 type octet). */
export const NdpField = {
  Type: 0,
  Code: 1,
  Checksum: 2,
  /** RA: current hop limit. */
  CurHopLimit: 4,
  /** RA: M and O flags. */
  RaFlags: 5,
  RouterLifetime: 6,
  ReachableTime: 8,
  RetransTimer: 12,
  /** NA: R, S and O flags (top bits of the 32-bit word at 4). */
  NaFlags: 4,
  /** NS, NA, redirect: target address. */
  Target: 8,
  /** Redirect: destination address. */
  Destination: 24,
} as const;

/** Where the options start, by message type. */
export const NdpOptionsAt = {
  RouterSolicitation: 8,
  RouterAdvertisement: 16,
  NeighborSolicitation: 24,
  NeighborAdvertisement: 24,
  Redirect: 40,
} as const;

export const RA_FLAG_MANAGED = 0x80;
export const RA_FLAG_OTHER = 0x40;
/** NA flags in the 32-bit word at offset 4. */
export const NA_FLAG_ROUTER = 0x80000000;
export const NA_FLAG_SOLICITED = 0x40000000;
export const NA_FLAG_OVERRIDE = 0x20000000;
/** Prefix information flags. */
export const PREFIX_FLAG_ON_LINK = 0x80;
export const PREFIX_FLAG_AUTONOMOUS = 0x40;

export const NdpOptionType = {
  SourceLinkLayerAddress: 1,
  TargetLinkLayerAddress: 2,
  PrefixInformation: 3,
  RedirectedHeader: 4,
  Mtu: 5,
  Nonce: 14,
  RouteInformation: 24,
  RecursiveDnsServer: 25,
  DnsSearchList: 31,
} as const;

export const NdpError = {
  /** The message is shorter than its type's fixed part. */
  Truncated: 1,
  /** The ICMPv6 type is not 133..137. */
  NotNdp: 2,
  /** The code is not 0. */
  BadCode: 3,
  /** The target (or a redirect's destination) is a multicast address. */
  MulticastTarget: 4,
  /** An option with length 0 (`at`: its length octet). */
  OptionZeroLength: 5,
  /** An option runs past the end of the message (`at`: its type octet). */
  OptionTruncated: 6,
} as const;
export type NdpError = (typeof NdpError)[keyof typeof NdpError];

// ---- options -------------------------------------------------------------------

export interface NdpLinkLayerOption {
  kind: "sourceLinkLayer" | "targetLinkLayer";
  /** The MAC (the option is 8 octets long). */
  address: number;
}

export interface NdpPrefixOption {
  kind: "prefixInformation";
  prefixLength: number;
  /** L (0x80), A (0x40) and the other bits as received. */
  flags: number;
  validLifetime: number;
  preferredLifetime: number;
  /** Reserved2, kept as received. */
  reserved: number;
  prefix: Uint32Array;
}

export interface NdpMtuOption {
  kind: "mtu";
  reserved: number;
  mtu: number;
}

/** Any other option, as on the wire after its type and length octets. */
export interface NdpRawOption {
  kind: "raw";
  type: number;
  /** 6, 14, 22, ... octets (the length in units of 8 octets, minus the 2 of type and length). */
  data: Uint8Array;
}

export type NdpOption = NdpLinkLayerOption | NdpPrefixOption | NdpMtuOption | NdpRawOption;

// ---- messages ------------------------------------------------------------------

export interface RouterSolicitation {
  kind: "routerSolicitation";
  reserved: number;
  options: NdpOption[];
}

export interface RouterAdvertisement {
  kind: "routerAdvertisement";
  curHopLimit: number;
  /** M (0x80), O (0x40) and the other bits as received. */
  flags: number;
  routerLifetime: number;
  reachableTime: number;
  retransTimer: number;
  options: NdpOption[];
}

export interface NeighborSolicitation {
  kind: "neighborSolicitation";
  reserved: number;
  target: Uint32Array;
  options: NdpOption[];
}

export interface NeighborAdvertisement {
  kind: "neighborAdvertisement";
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** The low 29 bits of the flags word. */
  reserved: number;
  target: Uint32Array;
  options: NdpOption[];
}

export interface Redirect {
  kind: "redirect";
  reserved: number;
  target: Uint32Array;
  destination: Uint32Array;
  options: NdpOption[];
}

export type NdpRepr =
  | RouterSolicitation
  | RouterAdvertisement
  | NeighborSolicitation
  | NeighborAdvertisement
  | Redirect;

/** Where the options of an NDP message type start; -1 for other types. */
export function ndpOptionsStart(type: number): number {
  switch (type) {
    case Icmpv6Type.RouterSolicitation:
      return NdpOptionsAt.RouterSolicitation;
    case Icmpv6Type.RouterAdvertisement:
      return NdpOptionsAt.RouterAdvertisement;
    case Icmpv6Type.NeighborSolicitation:
      return NdpOptionsAt.NeighborSolicitation;
    case Icmpv6Type.NeighborAdvertisement:
      return NdpOptionsAt.NeighborAdvertisement;
    case Icmpv6Type.Redirect:
      return NdpOptionsAt.Redirect;
    default:
      return -1;
  }
}

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < 4) return fault(NdpError.Truncated, len);
  const type = buf[off];
  const start = ndpOptionsStart(type);
  if (start < 0) return fault(NdpError.NotNdp, 0);
  if (buf[off + 1] !== 0) return fault(NdpError.BadCode, 1);
  if (len < start) return fault(NdpError.Truncated, len);
  if (start >= NdpOptionsAt.NeighborSolicitation && buf[off + NdpField.Target] === 0xff) {
    return fault(NdpError.MulticastTarget, NdpField.Target);
  }
  if (type === Icmpv6Type.Redirect && buf[off + NdpField.Destination] === 0xff) {
    return fault(NdpError.MulticastTarget, NdpField.Destination);
  }
  let pos = start;
  while (pos < len) {
    if (pos + 2 > len) return fault(NdpError.OptionTruncated, pos);
    const units = buf[off + pos + 1];
    if (units === 0) return fault(NdpError.OptionZeroLength, pos + 1);
    if (pos + units * 8 > len) return fault(NdpError.OptionTruncated, pos);
    pos += units * 8;
  }
  return 0;
}

/** Validates the NDP message `(buf, off, len)` (checksum aside): 0 or an NdpError. */
export function checkNdp(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

// ---- in-place accessors (on a checked message) --------------------------------

/**
 * Offset (from `off`) of the first option of type `optType` in the checked
 * NDP message `(buf, off, len)`, or -1.
 */
export function ndpFindOption(buf: Uint8Array, off: number, len: number, optType: number): number {
  let pos = ndpOptionsStart(buf[off]);
  if (pos < 0) return -1;
  while (pos + 2 <= len) {
    const units = buf[off + pos + 1];
    if (units === 0) return -1;
    if (buf[off + pos] === optType) return pos + units * 8 <= len ? pos : -1;
    pos += units * 8;
  }
  return -1;
}

/**
 * The MAC of the source/target link-layer address option at `buf[optOff]`,
 * or -1 when the option is not the 8 octets of an Ethernet address.
 */
export function ndpLinkLayerAddress(buf: Uint8Array, optOff: number): number {
  return buf[optOff + 1] === 1 ? read48(buf, optOff + 2) : -1;
}

/** Reads the target address (NS, NA, redirect) into `out[outOff .. outOff + 3]`. */
export function ndpTarget(buf: Uint8Array, off: number, out: Uint32Array, outOff = 0): void {
  readAddr(buf, off + NdpField.Target, out, outOff);
}

/** Whether the target address (NS, NA, redirect) equals `words[wOff .. wOff + 3]`. */
export function ndpTargetEquals(
  buf: Uint8Array,
  off: number,
  words: ArrayLike<number>,
  wOff = 0,
): boolean {
  const at = off + NdpField.Target;
  return (
    read32(buf, at + 12) === words[wOff + 3] &&
    read32(buf, at + 8) === words[wOff + 2] &&
    read32(buf, at + 4) === words[wOff + 1] &&
    read32(buf, at) === words[wOff]
  );
}

/** The NA flags word (NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE). */
export function ndpNaFlags(buf: Uint8Array, off: number): number {
  return read32(buf, off + NdpField.NaFlags) & 0xe0000000;
}

function readAddr(buf: Uint8Array, at: number, out: Uint32Array, outOff: number): void {
  out[outOff] = read32(buf, at);
  out[outOff + 1] = read32(buf, at + 4);
  out[outOff + 2] = read32(buf, at + 8);
  out[outOff + 3] = read32(buf, at + 12);
}

function addr(buf: Uint8Array, at: number): Uint32Array {
  const out = new Uint32Array(4);
  readAddr(buf, at, out, 0);
  return out;
}

function writeAddr(buf: Uint8Array, at: number, words: ArrayLike<number>): void {
  for (let i = 0; i < 4; i++) write32(buf, at + 4 * i, words[i]);
}

// ---- multicast helpers (RFC 4291, RFC 2464) ------------------------------------

/** Writes the solicited-node multicast address ff02::1:ffXX:XXXX of `addr` into `out`. */
export function solicitedNodeAddress(
  addr: ArrayLike<number>,
  out: Uint32Array,
  addrOff = 0,
  outOff = 0,
): void {
  const low = addr[addrOff + 3];
  out[outOff] = 0xff020000;
  out[outOff + 1] = 0;
  out[outOff + 2] = 1;
  out[outOff + 3] = (0xff000000 | (low & 0xffffff)) >>> 0;
}

/** The Ethernet multicast MAC 33:33:xx:xx:xx:xx of an IPv6 multicast address. */
export function ipv6MulticastMac(addr: ArrayLike<number>, addrOff = 0): number {
  return 0x333300000000 + (addr[addrOff + 3] >>> 0);
}

/** The Ethernet multicast MAC of the IPv6 address at `buf[at]`. */
export function ipv6MulticastMacAt(buf: Uint8Array, at: number): number {
  return 0x333300000000 + read32(buf, at + 12);
}

// ---- repr ----------------------------------------------------------------------

function parseOptions(buf: Uint8Array, off: number, pos: number, len: number): NdpOption[] {
  const options: NdpOption[] = [];
  while (pos < len) {
    const type = buf[off + pos];
    const units = buf[off + pos + 1];
    const at = off + pos;
    if (
      (type === NdpOptionType.SourceLinkLayerAddress ||
        type === NdpOptionType.TargetLinkLayerAddress) &&
      units === 1
    ) {
      options.push({
        kind: type === NdpOptionType.SourceLinkLayerAddress ? "sourceLinkLayer" : "targetLinkLayer",
        address: read48(buf, at + 2),
      });
    } else if (type === NdpOptionType.PrefixInformation && units === 4) {
      options.push({
        kind: "prefixInformation",
        prefixLength: buf[at + 2],
        flags: buf[at + 3],
        validLifetime: read32(buf, at + 4),
        preferredLifetime: read32(buf, at + 8),
        reserved: read32(buf, at + 12),
        prefix: addr(buf, at + 16),
      });
    } else if (type === NdpOptionType.Mtu && units === 1) {
      options.push({
        kind: "mtu",
        reserved: (buf[at + 2] << 8) | buf[at + 3],
        mtu: read32(buf, at + 4),
      });
    } else {
      options.push({ kind: "raw", type, data: buf.slice(at + 2, at + units * 8) });
    }
    pos += units * 8;
  }
  return options;
}

export function parseNdp(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<NdpRepr, NdpError> {
  const f = validate(buf, off, len);
  if (f !== 0) return failure(f);
  const type = buf[off];
  const options = parseOptions(buf, off, ndpOptionsStart(type), len);
  let repr: NdpRepr;
  switch (type) {
    case Icmpv6Type.RouterSolicitation:
      repr = { kind: "routerSolicitation", reserved: read32(buf, off + 4), options };
      break;
    case Icmpv6Type.RouterAdvertisement:
      repr = {
        kind: "routerAdvertisement",
        curHopLimit: buf[off + NdpField.CurHopLimit],
        flags: buf[off + NdpField.RaFlags],
        routerLifetime: (buf[off + 6] << 8) | buf[off + 7],
        reachableTime: read32(buf, off + NdpField.ReachableTime),
        retransTimer: read32(buf, off + NdpField.RetransTimer),
        options,
      };
      break;
    case Icmpv6Type.NeighborSolicitation:
      repr = {
        kind: "neighborSolicitation",
        reserved: read32(buf, off + 4),
        target: addr(buf, off + NdpField.Target),
        options,
      };
      break;
    case Icmpv6Type.NeighborAdvertisement: {
      const word = read32(buf, off + NdpField.NaFlags);
      repr = {
        kind: "neighborAdvertisement",
        router: (word & NA_FLAG_ROUTER) !== 0,
        solicited: (word & NA_FLAG_SOLICITED) !== 0,
        override: (word & NA_FLAG_OVERRIDE) !== 0,
        reserved: word & 0x1fffffff,
        target: addr(buf, off + NdpField.Target),
        options,
      };
      break;
    }
    default:
      repr = {
        kind: "redirect",
        reserved: read32(buf, off + 4),
        target: addr(buf, off + NdpField.Target),
        destination: addr(buf, off + NdpField.Destination),
        options,
      };
  }
  return { ok: true, repr };
}

/** Octets an option takes. */
export function ndpOptionLen(option: NdpOption): number {
  switch (option.kind) {
    case "sourceLinkLayer":
    case "targetLinkLayer":
    case "mtu":
      return 8;
    case "prefixInformation":
      return 32;
    case "raw":
      return 2 + option.data.length;
  }
}

/** Octets `repr` takes. */
export function ndpReprLen(repr: NdpRepr): number {
  let n = OPTIONS_AT[repr.kind];
  for (const option of repr.options) n += ndpOptionLen(option);
  return n;
}

const OPTIONS_AT: Readonly<Record<NdpRepr["kind"], number>> = {
  routerSolicitation: NdpOptionsAt.RouterSolicitation,
  routerAdvertisement: NdpOptionsAt.RouterAdvertisement,
  neighborSolicitation: NdpOptionsAt.NeighborSolicitation,
  neighborAdvertisement: NdpOptionsAt.NeighborAdvertisement,
  redirect: NdpOptionsAt.Redirect,
};

function emitOption(option: NdpOption, buf: Uint8Array, at: number): number {
  const n = ndpOptionLen(option);
  if (n % 8 !== 0 || n === 0 || n > 255 * 8) {
    throw new RangeError(`NDP option of ${n} octets: not a multiple of 8 up to 2040`);
  }
  buf.fill(0, at, at + n);
  buf[at + 1] = n / 8;
  switch (option.kind) {
    case "sourceLinkLayer":
    case "targetLinkLayer":
      needUint(option.address, 0xffffffffffff, "link-layer address");
      buf[at] =
        option.kind === "sourceLinkLayer"
          ? NdpOptionType.SourceLinkLayerAddress
          : NdpOptionType.TargetLinkLayerAddress;
      write48(buf, at + 2, option.address);
      break;
    case "prefixInformation":
      needUint(option.prefixLength, 255, "prefix length");
      needUint(option.flags, 255, "prefix flags");
      buf[at] = NdpOptionType.PrefixInformation;
      buf[at + 2] = option.prefixLength;
      buf[at + 3] = option.flags;
      write32(buf, at + 4, option.validLifetime);
      write32(buf, at + 8, option.preferredLifetime);
      write32(buf, at + 12, option.reserved);
      writeAddr(buf, at + 16, option.prefix);
      break;
    case "mtu":
      needUint(option.reserved, 0xffff, "MTU option reserved");
      buf[at] = NdpOptionType.Mtu;
      buf[at + 2] = option.reserved >>> 8;
      buf[at + 3] = option.reserved;
      write32(buf, at + 4, option.mtu);
      break;
    case "raw":
      needUint(option.type, 255, "option type");
      buf[at] = option.type;
      buf.set(option.data, at + 2);
      break;
  }
  return n;
}

/**
 * Writes `repr` as a whole ICMPv6 message, its checksum over `pseudo` (the
 * pseudo-header sum without length, see icmpv6.ts); answers its length.
 */
export function emitNdp(repr: NdpRepr, buf: Uint8Array, off: number, pseudo: number): number {
  const n = ndpReprLen(repr);
  needRoom(buf, off, n, "NDP message");
  buf.fill(0, off, off + OPTIONS_AT[repr.kind]);
  switch (repr.kind) {
    case "routerSolicitation":
      buf[off] = Icmpv6Type.RouterSolicitation;
      write32(buf, off + 4, repr.reserved);
      break;
    case "routerAdvertisement":
      needUint(repr.curHopLimit, 255, "current hop limit");
      needUint(repr.flags, 255, "RA flags");
      needUint(repr.routerLifetime, 0xffff, "router lifetime");
      buf[off] = Icmpv6Type.RouterAdvertisement;
      buf[off + NdpField.CurHopLimit] = repr.curHopLimit;
      buf[off + NdpField.RaFlags] = repr.flags;
      buf[off + 6] = repr.routerLifetime >>> 8;
      buf[off + 7] = repr.routerLifetime;
      write32(buf, off + NdpField.ReachableTime, repr.reachableTime);
      write32(buf, off + NdpField.RetransTimer, repr.retransTimer);
      break;
    case "neighborSolicitation":
      buf[off] = Icmpv6Type.NeighborSolicitation;
      write32(buf, off + 4, repr.reserved);
      writeAddr(buf, off + NdpField.Target, repr.target);
      break;
    case "neighborAdvertisement":
      needUint(repr.reserved, 0x1fffffff, "NA reserved");
      buf[off] = Icmpv6Type.NeighborAdvertisement;
      write32(
        buf,
        off + NdpField.NaFlags,
        (repr.router ? NA_FLAG_ROUTER : 0) +
          (repr.solicited ? NA_FLAG_SOLICITED : 0) +
          (repr.override ? NA_FLAG_OVERRIDE : 0) +
          repr.reserved,
      );
      writeAddr(buf, off + NdpField.Target, repr.target);
      break;
    case "redirect":
      buf[off] = Icmpv6Type.Redirect;
      write32(buf, off + 4, repr.reserved);
      writeAddr(buf, off + NdpField.Target, repr.target);
      writeAddr(buf, off + NdpField.Destination, repr.destination);
      break;
  }
  let pos = off + OPTIONS_AT[repr.kind];
  for (const option of repr.options) pos += emitOption(option, buf, pos);
  fillIcmpv6Checksum(buf, off, n, pseudo);
  return n;
}
