/**
 * Ethernet II frames (IEEE 802.3 "type" interpretation, the DIX header) as
 * TAP devices and VXLAN tunnels carry them: destination, source, EtherType,
 * no preamble and no FCS. One IEEE 802.1Q tag (TPID 0x8100: PCP, DEI, VID)
 * is recognised after the source address; the EtherType behind it is the
 * "inner" type. A second tag (Q-in-Q) is not unwrapped: its TPID is reported
 * as the inner type, and an S-tag TPID (0x88A8) as the type itself, so that
 * the caller can decide; both round-trip unchanged, as does any EtherType
 * this module does not know and any value below 0x0600 (an 802.3 length).
 *
 * Validation is only that the header fits: every 48-bit address and every
 * EtherType is a valid header. Frames shorter than the 60-octet minimum are
 * accepted (TAP hands them unpadded); padding past the network-layer length
 * is the network layer's business.
 */
import {
  failure,
  fault,
  needRoom,
  needUint,
  type ParseResult,
  read16,
  read48,
  write16,
  write48,
} from "./bytes.ts";

export const ETH_ADDR_LEN = 6;
/** An untagged header. */
export const ETH_HEADER_LEN = 14;
/** A header with one 802.1Q tag. */
export const ETH_VLAN_HEADER_LEN = 18;
/** Length of an 802.1Q tag (TPID + TCI). */
export const VLAN_TAG_LEN = 4;
/** Minimum frame length without the FCS (shorter frames are padded on the wire). */
export const ETH_MIN_FRAME_LEN = 60;
/** Largest VLAN identifier (4095 is reserved, but round-trips). */
export const VLAN_ID_MAX = 0xfff;

/** Offsets of the header's fields. */
export const EthField = {
  Dst: 0,
  Src: 6,
  /** EtherType, or the TPID of an 802.1Q tag. */
  Type: 12,
  /** Tag control information (PCP, DEI, VID) when tagged. */
  Tci: 14,
  /** EtherType behind the tag when tagged. */
  InnerType: 16,
} as const;

export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  /** 802.1Q C-tag TPID. */
  Vlan: 0x8100,
  Ipv6: 0x86dd,
  /** 802.1ad S-tag TPID (not unwrapped). */
  QinQ: 0x88a8,
} as const;

export const EthernetError = {
  /** Fewer than 14 octets. */
  Truncated: 1,
  /** Tagged, but fewer than 18 octets. */
  TagTruncated: 2,
} as const;
export type EthernetError = (typeof EthernetError)[keyof typeof EthernetError];

/** An 802.1Q tag. */
export interface VlanTag {
  /** Priority code point, 0..7. */
  pcp: number;
  /** Drop eligible indicator. */
  dei: boolean;
  /** VLAN identifier, 0..4095. */
  vid: number;
}

export interface EthernetRepr {
  dst: number;
  src: number;
  /** The 802.1Q tag, or null when untagged. */
  vlan: VlanTag | null;
  /** EtherType of the payload (behind the tag when tagged). */
  ethertype: number;
}

function validate(buf: Uint8Array, off: number, len: number): number {
  if (len < ETH_HEADER_LEN) return fault(EthernetError.Truncated, len);
  if (read16(buf, off + EthField.Type) === EtherType.Vlan && len < ETH_VLAN_HEADER_LEN) {
    return fault(EthernetError.TagTruncated, len);
  }
  return 0;
}

/** Validates the header of the frame `(buf, off, len)`: 0 or an EthernetError. */
export function checkEthernet(buf: Uint8Array, off: number, len: number): number {
  return validate(buf, off, len) % 256;
}

// ---- in-place accessors (on a checked header) --------------------------------

export function ethDst(buf: Uint8Array, off: number): number {
  return read48(buf, off + EthField.Dst);
}

export function ethSrc(buf: Uint8Array, off: number): number {
  return read48(buf, off + EthField.Src);
}

export function setEthDst(buf: Uint8Array, off: number, mac: number): void {
  write48(buf, off + EthField.Dst, mac);
}

export function setEthSrc(buf: Uint8Array, off: number, mac: number): void {
  write48(buf, off + EthField.Src, mac);
}

/** The EtherType field at offset 12 (a TPID when tagged). */
export function ethType(buf: Uint8Array, off: number): number {
  return read16(buf, off + EthField.Type);
}

export function ethIsTagged(buf: Uint8Array, off: number): boolean {
  return read16(buf, off + EthField.Type) === EtherType.Vlan;
}

/** The EtherType of the payload: behind the tag when tagged. */
export function ethPayloadType(buf: Uint8Array, off: number): number {
  const type = read16(buf, off + EthField.Type);
  return type === EtherType.Vlan ? read16(buf, off + EthField.InnerType) : type;
}

/** Header length: 18 when tagged, else 14 (the payload's offset). */
export function ethHeaderLen(buf: Uint8Array, off: number): number {
  return read16(buf, off + EthField.Type) === EtherType.Vlan ? ETH_VLAN_HEADER_LEN : ETH_HEADER_LEN;
}

/** The VLAN identifier of a tagged frame (-1 when untagged). */
export function ethVlanId(buf: Uint8Array, off: number): number {
  return read16(buf, off + EthField.Type) === EtherType.Vlan
    ? read16(buf, off + EthField.Tci) & VLAN_ID_MAX
    : -1;
}

/** Writes an untagged header; answers 14. */
export function writeEthHeader(
  buf: Uint8Array,
  off: number,
  dst: number,
  src: number,
  ethertype: number,
): number {
  write48(buf, off + EthField.Dst, dst);
  write48(buf, off + EthField.Src, src);
  write16(buf, off + EthField.Type, ethertype);
  return ETH_HEADER_LEN;
}

// ---- repr ----------------------------------------------------------------------

export function parseEthernet(
  buf: Uint8Array,
  off: number,
  len: number,
): ParseResult<EthernetRepr, EthernetError> {
  const f = validate(buf, off, len);
  if (f !== 0) return failure(f);
  const tagged = ethIsTagged(buf, off);
  let vlan: VlanTag | null = null;
  if (tagged) {
    const tci = read16(buf, off + EthField.Tci);
    vlan = { pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & VLAN_ID_MAX };
  }
  return {
    ok: true,
    repr: {
      dst: ethDst(buf, off),
      src: ethSrc(buf, off),
      vlan,
      ethertype: ethPayloadType(buf, off),
    },
  };
}

/** Header length of a repr. */
export function ethernetReprLen(repr: EthernetRepr): number {
  return repr.vlan === null ? ETH_HEADER_LEN : ETH_VLAN_HEADER_LEN;
}

/** Writes the header of `repr`; answers its length (14 or 18). */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off: number): number {
  const n = ethernetReprLen(repr);
  needRoom(buf, off, n, "Ethernet header");
  needUint(repr.dst, 0xffffffffffff, "destination MAC");
  needUint(repr.src, 0xffffffffffff, "source MAC");
  needUint(repr.ethertype, 0xffff, "EtherType");
  write48(buf, off + EthField.Dst, repr.dst);
  write48(buf, off + EthField.Src, repr.src);
  if (repr.vlan === null) {
    if (repr.ethertype === EtherType.Vlan) {
      throw new RangeError("EtherType 0x8100 is an 802.1Q tag: give the repr a vlan");
    }
    write16(buf, off + EthField.Type, repr.ethertype);
  } else {
    const { pcp, dei, vid } = repr.vlan;
    needUint(pcp, 7, "VLAN PCP");
    needUint(vid, VLAN_ID_MAX, "VLAN ID");
    write16(buf, off + EthField.Type, EtherType.Vlan);
    write16(buf, off + EthField.Tci, (pcp << 13) | (dei ? 0x1000 : 0) | vid);
    write16(buf, off + EthField.InnerType, repr.ethertype);
  }
  return n;
}
