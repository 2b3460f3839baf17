/**
 * VXLAN (RFC 7348): the 8-octet header in front of an inner Ethernet frame,
 * carried in UDP to port 4789. Flags octet with the I bit (a valid VNI is
 * present), 24 reserved bits, the 24-bit VNI, 8 reserved bits.
 *
 * A header without the I flag is refused (RFC 7348 section 5: I MUST be 1
 * for a valid VNI). The reserved bits "MUST be ignored on receipt": they are
 * kept in the repr, so a header re-emits unchanged (this is how the Linux
 * kernel's GBP and GPE extensions would pass through). The hot path reads
 * the VNI and writes a fresh header in place.
 */
import { failure, fault, needRoom, needUint, type ParseResult, read24, write24 } from "./bytes.ts";

export const VXLAN_HEADER_LEN = 8;
/** IANA port (RFC 7348 section 5). */
export const VXLAN_PORT = 4789;
/** The I flag: a valid VNI is present. */
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_VNI_MAX = 0xffffff;

export const VxlanField = {
  Flags: 0,
  Reserved1: 1,
  Vni: 4,
  Reserved2: 7,
} as const;

export const VxlanError = {
  /** Fewer than 8 octets. */
  Truncated: 1,
  /** The I flag is clear. */
  NoVni: 2,
} as const;
export type VxlanError = (typeof VxlanError)[keyof typeof VxlanError];

export interface VxlanRepr {
  /** VXLAN network identifier, 0..0xFFFFFF. */
  vni: number;
  /** The flags octet but I (the 7 "R" bits), as received. */
  reservedFlags: number;
  /** Octets 1..3, as received. */
  reserved1: number;
  /** Octet 7, as received. */
  reserved2: number;
}

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < VXLAN_HEADER_LEN) return fault(VxlanError.Truncated, len);
  if ((buf[off] & VXLAN_FLAG_I) === 0) return fault(VxlanError.NoVni, VxlanField.Flags);
  return 0;
}

/** Validates the VXLAN packet `(buf, off, len)`: 0 or a VxlanError. */
export function checkVxlan(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

export function vxlanVni(buf: Uint8Array, off: number): number {
  return read24(buf, off + VxlanField.Vni);
}

export function setVxlanVni(buf: Uint8Array, off: number, vni: number): void {
  write24(buf, off + VxlanField.Vni, vni);
}

/** Writes a fresh header (I flag, `vni`, reserved zero); answers 8. */
export function writeVxlanHeader(buf: Uint8Array, off: number, vni: number): number {
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  write24(buf, off + VxlanField.Vni, vni);
  buf[off + VxlanField.Reserved2] = 0;
  return VXLAN_HEADER_LEN;
}

export function parseVxlan(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<VxlanRepr, VxlanError> {
  const f = validate(buf, off, len);
  if (f !== 0) return failure(f);
  return {
    ok: true,
    repr: {
      vni: vxlanVni(buf, off),
      reservedFlags: buf[off] & ~VXLAN_FLAG_I,
      reserved1: read24(buf, off + VxlanField.Reserved1),
      reserved2: buf[off + VxlanField.Reserved2],
    },
  };
}

/** Writes the header of `repr`; answers 8. The inner frame is the caller's. */
export function emitVxlan(repr: VxlanRepr, buf: Uint8Array, off: number): number {
  needRoom(buf, off, VXLAN_HEADER_LEN, "VXLAN header");
  needUint(repr.vni, VXLAN_VNI_MAX, "VNI");
  needUint(repr.reservedFlags, 0xff, "VXLAN reserved flags");
  if ((repr.reservedFlags & VXLAN_FLAG_I) !== 0) {
    throw new RangeError("VXLAN reservedFlags holds the I flag, which emitVxlan sets itself");
  }
  needUint(repr.reserved1, 0xffffff, "VXLAN reserved1");
  needUint(repr.reserved2, 0xff, "VXLAN reserved2");
  buf[off] = repr.reservedFlags | VXLAN_FLAG_I;
  write24(buf, off + VxlanField.Reserved1, repr.reserved1);
  write24(buf, off + VxlanField.Vni, repr.vni);
  buf[off + VxlanField.Reserved2] = repr.reserved2;
  return VXLAN_HEADER_LEN;
}
