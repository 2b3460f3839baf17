/**
 * ARP (RFC 826) for IPv4 over Ethernet: hardware type 1 with 6-octet
 * addresses, protocol type 0x0800 with 4-octet addresses; a 28-octet body.
 * Other hardware or protocol types are reported as unsupported (the repr
 * could not carry their addresses). Operation codes other than request and
 * reply (RARP, InARP, ...) round-trip unchanged; acting on them is the host
 * stack's choice.
 *
 * `arpRequestToReply` turns a request into the reply in place, as the host
 * stack answers for its own addresses without building a new packet.
 */
import {
  failure,
  fault,
  needRoom,
  needUint,
  type ParseResult,
  read16,
  read32,
  read48,
  write16,
  write32,
  write48,
} from "./bytes.ts";

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;

/** Offsets of the fields. */
export const ArpField = {
  HardwareType: 0,
  ProtocolType: 2,
  HardwareLength: 4,
  ProtocolLength: 5,
  Operation: 6,
  SenderMac: 8,
  SenderIp: 14,
  TargetMac: 18,
  TargetIp: 24,
} as const;

export const ArpOperation = {
  Request: 1,
  Reply: 2,
} as const;

export const ArpError = {
  /** Fewer than 28 octets. */
  Truncated: 1,
  /** Hardware type not Ethernet (1) or hardware address length not 6. */
  UnsupportedHardware: 2,
  /** Protocol type not IPv4 (0x0800) or protocol address length not 4. */
  UnsupportedProtocol: 3,
} as const;
export type ArpError = (typeof ArpError)[keyof typeof ArpError];

export interface ArpRepr {
  /** ArpOperation, or any other operation code (kept as is). */
  operation: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < 8) return fault(ArpError.Truncated, len);
  if (read16(buf, off) !== ARP_HTYPE_ETHERNET) return fault(ArpError.UnsupportedHardware, 0);
  if (read16(buf, off + 2) !== ARP_PTYPE_IPV4) return fault(ArpError.UnsupportedProtocol, 2);
  if (buf[off + 4] !== 6) return fault(ArpError.UnsupportedHardware, 4);
  if (buf[off + 5] !== 4) return fault(ArpError.UnsupportedProtocol, 5);
  if (len < ARP_LEN) return fault(ArpError.Truncated, len);
  return 0;
}

/** Validates the ARP packet `(buf, off, len)`: 0 or an ArpError. Trailing octets (padding) are allowed. */
export function checkArp(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

// ---- in-place accessors ----------------------------------------------------------

export function arpOperation(buf: Uint8Array, off: number): number {
  return read16(buf, off + ArpField.Operation);
}

export function arpSenderMac(buf: Uint8Array, off: number): number {
  return read48(buf, off + ArpField.SenderMac);
}

export function arpSenderIp(buf: Uint8Array, off: number): number {
  return read32(buf, off + ArpField.SenderIp);
}

export function arpTargetMac(buf: Uint8Array, off: number): number {
  return read48(buf, off + ArpField.TargetMac);
}

export function arpTargetIp(buf: Uint8Array, off: number): number {
  return read32(buf, off + ArpField.TargetIp);
}

/**
 * Turns the request at `off` into its reply in place: the old sender becomes
 * the target, `mac` and the requested address the sender, the operation 2.
 */
export function arpRequestToReply(buf: Uint8Array, off: number, mac: number): void {
  const requested = read32(buf, off + ArpField.TargetIp);
  // Sender MAC and IP (octets 8..17) move as one block to the target's place (18..27).
  buf.copyWithin(off + ArpField.TargetMac, off + ArpField.SenderMac, off + ArpField.TargetMac);
  write32(buf, off + ArpField.SenderIp, requested);
  write48(buf, off + ArpField.SenderMac, mac);
  write16(buf, off + ArpField.Operation, ArpOperation.Reply);
}

// ---- repr ----------------------------------------------------------------------

export function parseArp(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<ArpRepr, ArpError> {
  const f = validate(buf, off, len);
  if (f !== 0) return failure(f);
  return {
    ok: true,
    repr: {
      operation: arpOperation(buf, off),
      senderMac: arpSenderMac(buf, off),
      senderIp: arpSenderIp(buf, off),
      targetMac: arpTargetMac(buf, off),
      targetIp: arpTargetIp(buf, off),
    },
  };
}

/** Writes `repr` as an Ethernet/IPv4 ARP packet; answers 28. */
export function emitArp(repr: ArpRepr, buf: Uint8Array, off: number): number {
  needRoom(buf, off, ARP_LEN, "ARP packet");
  needUint(repr.operation, 0xffff, "ARP operation");
  needUint(repr.senderMac, 0xffffffffffff, "sender MAC");
  needUint(repr.targetMac, 0xffffffffffff, "target MAC");
  needUint(repr.senderIp, 0xffffffff, "sender IP");
  needUint(repr.targetIp, 0xffffffff, "target IP");
  write16(buf, off + ArpField.HardwareType, ARP_HTYPE_ETHERNET);
  write16(buf, off + ArpField.ProtocolType, ARP_PTYPE_IPV4);
  buf[off + ArpField.HardwareLength] = 6;
  buf[off + ArpField.ProtocolLength] = 4;
  write16(buf, off + ArpField.Operation, repr.operation);
  write48(buf, off + ArpField.SenderMac, repr.senderMac);
  write32(buf, off + ArpField.SenderIp, repr.senderIp);
  write48(buf, off + ArpField.TargetMac, repr.targetMac);
  write32(buf, off + ArpField.TargetIp, repr.targetIp);
  return ARP_LEN;
}
