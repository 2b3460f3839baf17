/**
 * UDP (RFC 768): ports, length, checksum.
 *
 * `checkUdp` checks that the 8-octet header is there, that the length field
 * is at least 8 and within the input (octets past it are ignored), and, when
 * given the pseudo-header sum, the checksum. A zero checksum means "none"
 * (RFC 768) and passes: over IPv4 that is the rule, over IPv6 it is allowed
 * for tunnels only (RFC 6935, RFC 6936, as VXLAN uses it) and a caller that
 * must refuse it reads `udpChecksum` itself.
 *
 * The pseudo-header sum `pseudo` is taken *without* its length (see
 * checksum.ts): these functions add the UDP length themselves. A computed
 * checksum of 0 is sent as 0xFFFF (RFC 768).
 *
 * `writeUdpHeader` is the hot path's builder (a VXLAN encapsulation writes
 * the header in front of a frame already in place); the repr, with its
 * payload, is for the control plane and tests.
 */
import { failure, fault, needRoom, needUint, type ParseResult, read16, write16 } from "./bytes.ts";
import { checksumOk, internetChecksum } from "./checksum.ts";

export const UDP_HEADER_LEN = 8;

export const UdpField = {
  SrcPort: 0,
  DstPort: 2,
  Length: 4,
  Checksum: 6,
} as const;

export const UdpError = {
  /** Fewer than 8 octets, or fewer than the length field says. */
  Truncated: 1,
  /** Length field below 8. */
  BadLength: 2,
  /** The checksum does not verify. */
  BadChecksum: 3,
} as const;
export type UdpError = (typeof UdpError)[keyof typeof UdpError];

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

function validate(buf: Uint8Array, off: number, len: number, pseudo: number | undefined): number {
  if (len < UDP_HEADER_LEN) return fault(UdpError.Truncated, len);
  const length = read16(buf, off + UdpField.Length);
  if (length < UDP_HEADER_LEN) return fault(UdpError.BadLength, UdpField.Length);
  if (length > len) return fault(UdpError.Truncated, len);
  if (
    pseudo !== undefined &&
    read16(buf, off + UdpField.Checksum) !== 0 &&
    !checksumOk(buf, off, length, pseudo + length)
  ) {
    return fault(UdpError.BadChecksum, UdpField.Checksum);
  }
  return 0;
}

/**
 * Validates the UDP datagram `(buf, off, len)`, and its checksum when the
 * pseudo-header sum `pseudo` (without length) is given: 0 or a UdpError.
 */
export function checkUdp(buf: Uint8Array, off: number, len: number, pseudo?: number): number {
  return validate(buf, off, len, pseudo) % 256;
}

// ---- in-place accessors ----------------------------------------------------------

export function udpSrcPort(buf: Uint8Array, off: number): number {
  return read16(buf, off + UdpField.SrcPort);
}

export function udpDstPort(buf: Uint8Array, off: number): number {
  return read16(buf, off + UdpField.DstPort);
}

/** The length field: header and payload. */
export function udpLength(buf: Uint8Array, off: number): number {
  return read16(buf, off + UdpField.Length);
}

export function udpChecksum(buf: Uint8Array, off: number): number {
  return read16(buf, off + UdpField.Checksum);
}

/** Computes and stores the checksum over the datagram as its length field gives it. */
export function fillUdpChecksum(buf: Uint8Array, off: number, pseudo: number): void {
  const length = read16(buf, off + UdpField.Length);
  write16(buf, off + UdpField.Checksum, 0);
  const sum = internetChecksum(buf, off, length, pseudo + length);
  write16(buf, off + UdpField.Checksum, sum === 0 ? 0xffff : sum);
}

/**
 * Writes a UDP header for a datagram of `length` octets whose payload is
 * already at `off + 8`; with `pseudo` the checksum is computed, without it
 * it is 0 (none). Answers 8.
 */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  length: number,
  pseudo?: number,
): number {
  write16(buf, off + UdpField.SrcPort, srcPort);
  write16(buf, off + UdpField.DstPort, dstPort);
  write16(buf, off + UdpField.Length, length);
  write16(buf, off + UdpField.Checksum, 0);
  if (pseudo !== undefined) fillUdpChecksum(buf, off, pseudo);
  return UDP_HEADER_LEN;
}

// ---- repr ----------------------------------------------------------------------

/** Parses, verifying the checksum when `pseudo` (without length) is given. */
export function parseUdp(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudo?: number,
): ParseResult<UdpRepr, UdpError> {
  const f = validate(buf, off, len, pseudo);
  if (f !== 0) return failure(f);
  return {
    ok: true,
    repr: {
      srcPort: udpSrcPort(buf, off),
      dstPort: udpDstPort(buf, off),
      payload: buf.slice(off + UDP_HEADER_LEN, off + udpLength(buf, off)),
    },
  };
}

/**
 * Writes `repr`, header and payload; the checksum over `pseudo` (without
 * length) when given, else 0. Answers the datagram length.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, off: number, pseudo?: number): number {
  const n = UDP_HEADER_LEN + repr.payload.length;
  needUint(n, 0xffff, "UDP length");
  needUint(repr.srcPort, 0xffff, "source port");
  needUint(repr.dstPort, 0xffff, "destination port");
  needRoom(buf, off, n, "UDP datagram");
  buf.set(repr.payload, off + UDP_HEADER_LEN);
  return writeUdpHeader(buf, off, repr.srcPort, repr.dstPort, n, pseudo) + repr.payload.length;
}
