/**
 * How a captured packet enters a router interface. The capture's link type
 * says what a record holds (an Ethernet frame, a bare IP packet, or an IP
 * packet behind a Linux "cooked" SLL/SLL2 header); the router interface's
 * layer says what it takes (frames on L2, IP packets on L3). A plan is made
 * once per capture interface; `admit` then copies each packet into a batch
 * slot, adapting it:
 *
 * - Ethernet onto L2: as it is (optionally re-addressed to the interface's
 *   MAC, for captures taken in front of another router);
 * - Ethernet onto L3: the IPv4/IPv6 packet behind the header (one 802.1Q
 *   tag skipped); other frames are skipped as not IP;
 * - raw IP onto L3: as it is; cooked onto L3: the packet behind the header;
 * - raw IP or cooked onto L2: framed for the interface (unicast to its MAC,
 *   or the group address of a multicast destination (RFC 1112 section 6.4,
 *   RFC 2464 section 7), or broadcast), from the SLL sender's MAC when the
 *   capture has one, else from PEER_MAC.
 */
import { write48 } from "../../router/wire/bytes.ts";
import { LinkType } from "./capture.ts";
import { SkipReason } from "./summary.ts";

/** Source MAC of frames the replay builds around bare IP packets: a locally administered unicast address. */
export const PEER_MAC = 0x02_00_5e_00_00_01;

const ETH = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;

/** What a capture interface's records hold. */
export const Framing = {
  Ethernet: 0,
  /** A bare IP packet; the version nibble tells the family. */
  Ip: 1,
  /** Linux cooked v1: 16-byte header, protocol at 14, packet type at 0, sender address at 6. */
  Sll: 2,
  /** Linux cooked v2: 20-byte header, protocol at 0, packet type at 10, sender address at 12. */
  Sll2: 3,
  Unsupported: 4,
} as const;
export type Framing = (typeof Framing)[keyof typeof Framing];

export function framingOf(linkType: number): Framing {
  switch (linkType) {
    case LinkType.Ethernet:
      return Framing.Ethernet;
    case LinkType.Raw:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
      return Framing.Ip;
    case LinkType.LinuxSll:
      return Framing.Sll;
    case LinkType.LinuxSll2:
      return Framing.Sll2;
    default:
      return Framing.Unsupported;
  }
}

/** The router interface layer a link type's records naturally enter. */
export function naturalLayer(linkType: number): "l2" | "l3" | undefined {
  const f = framingOf(linkType);
  if (f === Framing.Unsupported) return undefined;
  return f === Framing.Ethernet ? "l2" : "l3";
}

/** How one capture interface's packets enter one router interface. */
export interface IngressPlan {
  /** Router interface index, or -1 when its packets cannot enter any. */
  ifIndex: number;
  framing: Framing;
  /** Whether the router interface is L2 (packets enter as Ethernet frames). */
  toL2: boolean;
  /** The interface's MAC (L2). */
  mac: number;
  /** Re-address unicast Ethernet frames to `mac`. */
  rewriteDst: boolean;
}

/**
 * Copies the packet at `buf[at..at+len)` into `buf[slot..)` (at most `room`
 * bytes) as the plan says; returns the slot's length, or -1 - SkipReason
 * when the packet is skipped. `buf` holds both (the engine's arena).
 */
export function admit(
  plan: IngressPlan,
  buf: Uint8Array,
  at: number,
  len: number,
  slot: number,
  room: number,
): number {
  const framing = plan.framing;
  if (framing === Framing.Ethernet) {
    if (plan.toL2) {
      if (len > room) return -1 - SkipReason.Oversize;
      buf.copyWithin(slot, at, at + len);
      if (plan.rewriteDst && len >= 6 && (buf[slot] & 1) === 0) write48(buf, slot, plan.mac);
      return len;
    }
    if (len < ETH) return -1 - SkipReason.Runt;
    let type = (buf[at + 12] << 8) | buf[at + 13];
    let hl = ETH;
    if (type === ETHERTYPE_VLAN) {
      if (len < ETH + 4) return -1 - SkipReason.Runt;
      type = (buf[at + 16] << 8) | buf[at + 17];
      hl += 4;
    }
    if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) return -1 - SkipReason.NotIp;
    return copyIn(buf, at + hl, len - hl, slot, room);
  }
  if (framing === Framing.Ip) {
    if (!plan.toL2) return copyIn(buf, at, len, slot, room);
    if (len < 1) return -1 - SkipReason.Runt;
    const v = buf[at] >>> 4;
    if (v !== 4 && v !== 6) return -1 - SkipReason.NotIp;
    return frameIn(
      plan,
      buf,
      at,
      len,
      slot,
      room,
      v === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6,
      -1,
      0,
    );
  }
  if (framing === Framing.Sll || framing === Framing.Sll2) {
    const hl = framing === Framing.Sll ? 16 : 20;
    if (len < hl) return -1 - SkipReason.Runt;
    const pAt = framing === Framing.Sll ? at + 14 : at;
    const type = (buf[pAt] << 8) | buf[pAt + 1];
    if (!plan.toL2) {
      if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) return -1 - SkipReason.NotIp;
      return copyIn(buf, at + hl, len - hl, slot, room);
    }
    if (type < 0x0600) return -1 - SkipReason.NotIp;
    const pktType = framing === Framing.Sll ? (buf[at] << 8) | buf[at + 1] : buf[at + 10];
    const addrLen = framing === Framing.Sll ? (buf[at + 4] << 8) | buf[at + 5] : buf[at + 11];
    const srcAt = addrLen === 6 ? (framing === Framing.Sll ? at + 6 : at + 12) : -1;
    return frameIn(plan, buf, at + hl, len - hl, slot, room, type, srcAt, pktType);
  }
  return -1 - SkipReason.UnsupportedLinkType;
}

function copyIn(buf: Uint8Array, at: number, len: number, slot: number, room: number): number {
  if (len > room) return -1 - SkipReason.Oversize;
  buf.copyWithin(slot, at, at + len);
  return len;
}

/**
 * Frames the `len`-byte payload at `at` for the plan's L2 interface:
 * destination by the SLL packet type (1 broadcast, 2 multicast) or the IP
 * destination, source from `buf[srcAt]` (-1: PEER_MAC).
 */
function frameIn(
  plan: IngressPlan,
  buf: Uint8Array,
  at: number,
  len: number,
  slot: number,
  room: number,
  ethertype: number,
  srcAt: number,
  pktType: number,
): number {
  if (len + ETH > room) return -1 - SkipReason.Oversize;
  buf.copyWithin(slot + ETH, at, at + len);
  const p = slot + ETH;
  if (ethertype === ETHERTYPE_IPV4 && len >= 20 && buf[p + 16] >>> 4 === 0xe) {
    // 01:00:5e and the group's low 23 bits.
    buf[slot] = 0x01;
    buf[slot + 1] = 0x00;
    buf[slot + 2] = 0x5e;
    buf[slot + 3] = buf[p + 17] & 0x7f;
    buf[slot + 4] = buf[p + 18];
    buf[slot + 5] = buf[p + 19];
  } else if (ethertype === ETHERTYPE_IPV6 && len >= 40 && buf[p + 24] === 0xff) {
    // 33:33 and the group's low 32 bits.
    buf[slot] = 0x33;
    buf[slot + 1] = 0x33;
    buf.copyWithin(slot + 2, p + 36, p + 40);
  } else if (pktType === 1 || pktType === 2) {
    write48(buf, slot, 0xffffffffffff);
  } else {
    write48(buf, slot, plan.mac);
  }
  if (srcAt >= 0) buf.copyWithin(slot + 6, srcAt, srcAt + 6);
  else write48(buf, slot + 6, PEER_MAC);
  buf[slot + 12] = ethertype >>> 8;
  buf[slot + 13] = ethertype & 0xff;
  return len + ETH;
}
