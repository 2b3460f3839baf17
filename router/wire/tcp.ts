/**
 * TCP headers (RFC 9293 section 3.1) and their options: End of Option List
 * and No-Operation (RFC 9293 3.2), Maximum Segment Size (RFC 9293 3.7.1,
 * RFC 6691), Window Scale and Timestamps (RFC 7323), SACK-Permitted and
 * SACK (RFC 2018), and the MD5 signature (RFC 2385, kind 19).
 *
 * `checkTcp` validates what a receiver must before it looks at a segment:
 * the 20-octet header is there, the data offset is at least 5 and within
 * the input, every option is well formed (a known kind with its fixed
 * length, any other kind with a length of at least 2 that stays inside the
 * header), and, given the pseudo-header sum, the checksum. The whole input
 * is the segment (TCP has no length field of its own: the IP layer gives
 * it). Option values are read into a reusable `TcpOptionValues` on the way,
 * so the receive path walks the options once and allocates nothing.
 * Unknown options are skipped; options after End of Option List are not
 * read.
 *
 * The pseudo-header sum `pseudo` is taken *without* its length (see
 * checksum.ts): these functions add the segment length themselves.
 *
 * The repr keeps the options as a list in wire order (No-Operation included,
 * End of Option List and the padding after it left out), so a parsed header
 * emits to the same octets when it had no padding after an End of Option
 * List, and unknown options round-trip unchanged. `writeTcpHeader` and the
 * option writers are the hot path's builders.
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
import { checksumOk, internetChecksum } from "./checksum.ts";

/** Header without options. */
export const TCP_HEADER_LEN = 20;
/** Header with 40 octets of options (data offset 15). */
export const TCP_MAX_HEADER_LEN = 60;
export const TCP_MAX_OPTIONS_LEN = 40;
/** Largest shift of the window scale option (RFC 7323 section 2.3). */
export const TCP_MAX_WINDOW_SHIFT = 14;
/** Octets of an MD5 signature option (kind, length, 16-octet digest). */
export const TCP_MD5_OPTION_LEN = 18;
/** Octets of the digest in an MD5 signature option. */
export const TCP_MD5_DIGEST_LEN = 16;

/** Offsets of the header's fields. */
export const TcpField = {
  SrcPort: 0,
  DstPort: 2,
  Seq: 4,
  Ack: 8,
  /** Data offset (high 4 bits) and 4 reserved bits. */
  DataOffset: 12,
  Flags: 13,
  Window: 14,
  Checksum: 16,
  Urgent: 18,
  Options: 20,
} as const;

/** Control bits of the flags octet (RFC 9293 3.1; ECE and CWR from RFC 3168). */
export const TcpFlag = {
  Fin: 0x01,
  Syn: 0x02,
  Rst: 0x04,
  Psh: 0x08,
  Ack: 0x10,
  Urg: 0x20,
  Ece: 0x40,
  Cwr: 0x80,
} as const;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  End: 0,
  Nop: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
  Md5: 19,
} as const;

export const TcpError = {
  /** Fewer than 20 octets, or fewer than the data offset says. */
  Truncated: 1,
  /** Data offset below 5. */
  BadDataOffset: 2,
  /** An option runs past the header, has a length below 2, or a known kind has the wrong length. */
  BadOption: 3,
  /** The checksum does not verify. */
  BadChecksum: 4,
} as const;
export type TcpError = (typeof TcpError)[keyof typeof TcpError];

/**
 * Option values of one segment, filled by `checkTcp`/`readTcpOptions`
 * (reset first). -1 or false: the option was not there.
 */
export class TcpOptionValues {
  mss = -1;
  /** The shift as received (not clamped to 14). */
  windowScale = -1;
  sackPermitted = false;
  /** SACK blocks present (their octets are left in the header). */
  sackBlocks = 0;
  hasTimestamps = false;
  tsValue = 0;
  tsEcho = 0;
  /** Offset of the 16-octet MD5 digest from the start of the header, -1 without one. */
  md5At = -1;

  reset(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.sackBlocks = 0;
    this.hasTimestamps = false;
    this.tsValue = 0;
    this.tsEcho = 0;
    this.md5At = -1;
  }
}

/** The fixed length of a known option kind, 0 for SACK (variable) and -1 for unknown kinds. */
function knownLength(kind: number): number {
  switch (kind) {
    case TcpOptionKind.Mss:
      return 4;
    case TcpOptionKind.WindowScale:
      return 3;
    case TcpOptionKind.SackPermitted:
      return 2;
    case TcpOptionKind.Sack:
      return 0;
    case TcpOptionKind.Timestamps:
      return 10;
    case TcpOptionKind.Md5:
      return TCP_MD5_OPTION_LEN;
    default:
      return -1;
  }
}

/**
 * Walks the options of the header at `off` (data offset already checked to
 * be within the input), filling `out` when given; answers 0 or a packed
 * BadOption fault.
 */
function walkOptions(
  buf: Uint8Array,
  off: number,
  hl: number,
  out: TcpOptionValues | undefined,
): number {
  out?.reset();
  let i = TCP_HEADER_LEN;
  while (i < hl) {
    const kind = buf[off + i];
    if (kind === TcpOptionKind.End) break;
    if (kind === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= hl) return fault(TcpError.BadOption, i);
    const l = buf[off + i + 1];
    if (l < 2 || i + l > hl) return fault(TcpError.BadOption, i);
    const known = knownLength(kind);
    if (known > 0 && l !== known) return fault(TcpError.BadOption, i);
    if (known === 0 && (l < 10 || (l - 2) % 8 !== 0)) return fault(TcpError.BadOption, i);
    if (out !== undefined) {
      const at = off + i + 2;
      switch (kind) {
        case TcpOptionKind.Mss:
          out.mss = read16(buf, at);
          break;
        case TcpOptionKind.WindowScale:
          out.windowScale = buf[at];
          break;
        case TcpOptionKind.SackPermitted:
          out.sackPermitted = true;
          break;
        case TcpOptionKind.Sack:
          out.sackBlocks = (l - 2) / 8;
          break;
        case TcpOptionKind.Timestamps:
          out.hasTimestamps = true;
          out.tsValue = read32(buf, at);
          out.tsEcho = read32(buf, at + 4);
          break;
        case TcpOptionKind.Md5:
          out.md5At = i + 2;
          break;
      }
    }
    i += l;
  }
  return 0;
}

function validate(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudo: number | undefined,
  out: TcpOptionValues | undefined,
): number {
  if (len < TCP_HEADER_LEN) return fault(TcpError.Truncated, len);
  const hl = (buf[off + TcpField.DataOffset] >>> 4) << 2;
  if (hl < TCP_HEADER_LEN) return fault(TcpError.BadDataOffset, TcpField.DataOffset);
  if (hl > len) return fault(TcpError.Truncated, len);
  const f = walkOptions(buf, off, hl, out);
  if (f !== 0) return f;
  if (pseudo !== undefined && !checksumOk(buf, off, len, pseudo + len)) {
    return fault(TcpError.BadChecksum, TcpField.Checksum);
  }
  return 0;
}

/**
 * Validates the TCP segment `(buf, off, len)` (all of it: header and data),
 * and its checksum when the pseudo-header sum `pseudo` (without length) is
 * given; fills `options` when given. Answers 0 or a TcpError.
 */
export function checkTcp(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudo?: number,
  options?: TcpOptionValues,
): number {
  return validate(buf, off, len, pseudo, options) % 256;
}

/** Reads the options of a checked header into `out` (reset first); answers 0 or TcpError.BadOption. */
export function readTcpOptions(buf: Uint8Array, off: number, out: TcpOptionValues): number {
  return walkOptions(buf, off, tcpHeaderLen(buf, off), out) % 256;
}

// ---- in-place accessors (on a checked header) --------------------------------

export function tcpSrcPort(buf: Uint8Array, off: number): number {
  return read16(buf, off + TcpField.SrcPort);
}

export function tcpDstPort(buf: Uint8Array, off: number): number {
  return read16(buf, off + TcpField.DstPort);
}

export function tcpSeq(buf: Uint8Array, off: number): number {
  return read32(buf, off + TcpField.Seq);
}

export function tcpAck(buf: Uint8Array, off: number): number {
  return read32(buf, off + TcpField.Ack);
}

/** Header length in octets (data offset * 4). */
export function tcpHeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off + TcpField.DataOffset] >>> 4) << 2;
}

/** The flags octet (TcpFlag bits). */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + TcpField.Flags];
}

/** The window field as sent (not scaled). */
export function tcpWindow(buf: Uint8Array, off: number): number {
  return read16(buf, off + TcpField.Window);
}

export function tcpChecksum(buf: Uint8Array, off: number): number {
  return read16(buf, off + TcpField.Checksum);
}

export function tcpUrgent(buf: Uint8Array, off: number): number {
  return read16(buf, off + TcpField.Urgent);
}

/** Computes and stores the checksum of the `len`-octet segment at `off`. */
export function fillTcpChecksum(buf: Uint8Array, off: number, len: number, pseudo: number): void {
  write16(buf, off + TcpField.Checksum, 0);
  write16(buf, off + TcpField.Checksum, internetChecksum(buf, off, len, pseudo + len));
}

/**
 * Writes the fixed 20 octets of a header of `hl` octets (options are the
 * caller's, at `off + 20`), checksum and urgent pointer 0. Answers 20.
 */
export function writeTcpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  hl: number,
): number {
  write16(buf, off + TcpField.SrcPort, srcPort);
  write16(buf, off + TcpField.DstPort, dstPort);
  write32(buf, off + TcpField.Seq, seq);
  write32(buf, off + TcpField.Ack, ack);
  buf[off + TcpField.DataOffset] = (hl >>> 2) << 4;
  buf[off + TcpField.Flags] = flags;
  write16(buf, off + TcpField.Window, window);
  write16(buf, off + TcpField.Checksum, 0);
  write16(buf, off + TcpField.Urgent, 0);
  return TCP_HEADER_LEN;
}

/** Writes an MSS option at `at`; answers 4. */
export function writeMssOption(buf: Uint8Array, at: number, mss: number): number {
  buf[at] = TcpOptionKind.Mss;
  buf[at + 1] = 4;
  write16(buf, at + 2, mss);
  return 4;
}

/** Writes a No-Operation and a window scale option at `at` (4 octets, aligned); answers 4. */
export function writeWindowScaleOption(buf: Uint8Array, at: number, shift: number): number {
  buf[at] = TcpOptionKind.Nop;
  buf[at + 1] = TcpOptionKind.WindowScale;
  buf[at + 2] = 3;
  buf[at + 3] = shift;
  return 4;
}

/**
 * Writes two No-Operations and an MD5 signature option with a zero digest
 * at `at` (20 octets, the digest aligned); answers 20. The digest goes at
 * `at + 4`.
 */
export function writeMd5Option(buf: Uint8Array, at: number): number {
  buf[at] = TcpOptionKind.Nop;
  buf[at + 1] = TcpOptionKind.Nop;
  buf[at + 2] = TcpOptionKind.Md5;
  buf[at + 3] = TCP_MD5_OPTION_LEN;
  buf.fill(0, at + 4, at + 4 + TCP_MD5_DIGEST_LEN);
  return 20;
}

// ---- repr ----------------------------------------------------------------------

export type TcpOption =
  | { kind: "nop" }
  | { kind: "mss"; mss: number }
  | { kind: "windowScale"; shift: number }
  | { kind: "sackPermitted" }
  /** Blocks as [left edge, right edge] pairs. */
  | { kind: "sack"; blocks: [number, number][] }
  | { kind: "timestamps"; value: number; echo: number }
  | { kind: "md5"; digest: Uint8Array }
  /** Any other kind: its octets after kind and length. */
  | { kind: "unknown"; type: number; data: Uint8Array };

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The flags octet (TcpFlag bits). */
  flags: number;
  /** The 4 reserved bits after the data offset, kept as received. */
  reserved: number;
  /** The window field as on the wire (not scaled). */
  window: number;
  urgent: number;
  /** Options in wire order; End of Option List and padding are not listed. */
  options: TcpOption[];
  payload: Uint8Array;
}

function optionsRepr(buf: Uint8Array, off: number, hl: number): TcpOption[] {
  const options: TcpOption[] = [];
  let i = TCP_HEADER_LEN;
  while (i < hl) {
    const kind = buf[off + i];
    if (kind === TcpOptionKind.End) break;
    if (kind === TcpOptionKind.Nop) {
      options.push({ kind: "nop" });
      i++;
      continue;
    }
    const l = buf[off + i + 1];
    const at = off + i + 2;
    switch (kind) {
      case TcpOptionKind.Mss:
        options.push({ kind: "mss", mss: read16(buf, at) });
        break;
      case TcpOptionKind.WindowScale:
        options.push({ kind: "windowScale", shift: buf[at] });
        break;
      case TcpOptionKind.SackPermitted:
        options.push({ kind: "sackPermitted" });
        break;
      case TcpOptionKind.Sack: {
        const blocks: [number, number][] = [];
        for (let b = at; b < off + i + l; b += 8) blocks.push([read32(buf, b), read32(buf, b + 4)]);
        options.push({ kind: "sack", blocks });
        break;
      }
      case TcpOptionKind.Timestamps:
        options.push({ kind: "timestamps", value: read32(buf, at), echo: read32(buf, at + 4) });
        break;
      case TcpOptionKind.Md5:
        options.push({ kind: "md5", digest: buf.slice(at, at + TCP_MD5_DIGEST_LEN) });
        break;
      default:
        options.push({ kind: "unknown", type: kind, data: buf.slice(at, off + i + l) });
    }
    i += l;
  }
  return options;
}

/** Parses, verifying the checksum when `pseudo` (without length) is given. */
export function parseTcp(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudo?: number,
): ParseResult<TcpRepr, TcpError> {
  const f = validate(buf, off, len, pseudo, undefined);
  if (f !== 0) return failure(f);
  const hl = tcpHeaderLen(buf, off);
  return {
    ok: true,
    repr: {
      srcPort: tcpSrcPort(buf, off),
      dstPort: tcpDstPort(buf, off),
      seq: tcpSeq(buf, off),
      ack: tcpAck(buf, off),
      flags: tcpFlags(buf, off),
      reserved: buf[off + TcpField.DataOffset] & 0xf,
      window: tcpWindow(buf, off),
      urgent: tcpUrgent(buf, off),
      options: optionsRepr(buf, off, hl),
      payload: buf.slice(off + hl, off + len),
    },
  };
}

function optionLength(o: TcpOption): number {
  switch (o.kind) {
    case "nop":
      return 1;
    case "mss":
      return 4;
    case "windowScale":
      return 3;
    case "sackPermitted":
      return 2;
    case "sack":
      return 2 + 8 * o.blocks.length;
    case "timestamps":
      return 10;
    case "md5":
      return TCP_MD5_OPTION_LEN;
    case "unknown":
      return 2 + o.data.length;
  }
}

/** Octets the options of a repr take, padded to a multiple of 4. */
export function tcpOptionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += optionLength(o);
  return (n + 3) & ~3;
}

/** Header length of a repr (20 plus its padded options). */
export function tcpReprHeaderLen(repr: TcpRepr): number {
  return TCP_HEADER_LEN + tcpOptionsLength(repr.options);
}

function emitOption(o: TcpOption, buf: Uint8Array, at: number): number {
  const n = optionLength(o);
  if (o.kind === "nop") {
    buf[at] = TcpOptionKind.Nop;
    return 1;
  }
  buf[at + 1] = n;
  const v = at + 2;
  switch (o.kind) {
    case "mss":
      needUint(o.mss, 0xffff, "MSS");
      buf[at] = TcpOptionKind.Mss;
      write16(buf, v, o.mss);
      break;
    case "windowScale":
      needUint(o.shift, 0xff, "window scale shift");
      buf[at] = TcpOptionKind.WindowScale;
      buf[v] = o.shift;
      break;
    case "sackPermitted":
      buf[at] = TcpOptionKind.SackPermitted;
      break;
    case "sack":
      if (o.blocks.length < 1 || o.blocks.length > 4) {
        throw new RangeError(`SACK option with ${o.blocks.length} blocks: 1 to 4 fit`);
      }
      buf[at] = TcpOptionKind.Sack;
      o.blocks.forEach(([left, right], k) => {
        needUint(left, 0xffffffff, "SACK left edge");
        needUint(right, 0xffffffff, "SACK right edge");
        write32(buf, v + 8 * k, left);
        write32(buf, v + 8 * k + 4, right);
      });
      break;
    case "timestamps":
      needUint(o.value, 0xffffffff, "timestamp value");
      needUint(o.echo, 0xffffffff, "timestamp echo reply");
      buf[at] = TcpOptionKind.Timestamps;
      write32(buf, v, o.value);
      write32(buf, v + 4, o.echo);
      break;
    case "md5":
      if (o.digest.length !== TCP_MD5_DIGEST_LEN) {
        throw new RangeError(`MD5 digest of ${o.digest.length} octets, not 16`);
      }
      buf[at] = TcpOptionKind.Md5;
      buf.set(o.digest, v);
      break;
    case "unknown":
      needUint(o.type, 0xff, "option kind");
      if (
        o.type === TcpOptionKind.End ||
        o.type === TcpOptionKind.Nop ||
        knownLength(o.type) >= 0
      ) {
        throw new RangeError(`option kind ${o.type} is known: use its own repr`);
      }
      if (n > 0xff) throw new RangeError(`option kind ${o.type} of ${n} octets`);
      buf[at] = o.type;
      buf.set(o.data, v);
      break;
  }
  return n;
}

/**
 * Writes `repr`, header, options (padded with End of Option List octets)
 * and payload; the checksum over `pseudo` (without length) when given, else
 * 0. Answers the segment length.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, off: number, pseudo?: number): number {
  const olen = tcpOptionsLength(repr.options);
  if (olen > TCP_MAX_OPTIONS_LEN) throw new RangeError(`TCP options of ${olen} octets: 40 fit`);
  const hl = TCP_HEADER_LEN + olen;
  const n = hl + repr.payload.length;
  needRoom(buf, off, n, "TCP segment");
  needUint(repr.srcPort, 0xffff, "source port");
  needUint(repr.dstPort, 0xffff, "destination port");
  needUint(repr.seq, 0xffffffff, "sequence number");
  needUint(repr.ack, 0xffffffff, "acknowledgment number");
  needUint(repr.flags, 0xff, "flags");
  needUint(repr.reserved, 0xf, "reserved bits");
  needUint(repr.window, 0xffff, "window");
  needUint(repr.urgent, 0xffff, "urgent pointer");
  writeTcpHeader(
    buf,
    off,
    repr.srcPort,
    repr.dstPort,
    repr.seq,
    repr.ack,
    repr.flags,
    repr.window,
    hl,
  );
  buf[off + TcpField.DataOffset] |= repr.reserved;
  write16(buf, off + TcpField.Urgent, repr.urgent);
  let at = off + TCP_HEADER_LEN;
  for (const o of repr.options) at += emitOption(o, buf, at);
  buf.fill(TcpOptionKind.End, at, off + hl);
  buf.set(repr.payload, off + hl);
  if (pseudo !== undefined) fillTcpChecksum(buf, off, n, pseudo);
  return n;
}
