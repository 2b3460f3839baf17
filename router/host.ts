/**
 * The router's own small host stack: what happens to packets addressed to
 * the router, and the link-layer chatter it originates.
 *
 * - ARP (RFC 826): requests for our addresses are answered, probes from
 *   hosts checking for duplicates (RFC 5227, sender 0.0.0.0) included;
 *   senders on one of the interface's subnets are learned when the request
 *   is for us and refreshed when already known (the RFC's merge flag);
 *   replies resolve pending neighbours.
 * - Neighbour discovery (RFC 4861): solicitations for our addresses are
 *   answered with a solicited, override advertisement; advertisements and
 *   the source link-layer option of solicitations resolve neighbours.
 * - ICMP and ICMPv6 echo (RFC 792, RFC 4443) answered; UDP answered with
 *   port unreachable; other protocols with protocol unreachable (IPv4) or a
 *   parameter problem (IPv6).
 * - TCP goes to the router's own TCP stack (router/tcp/), which carries its
 *   BGP sessions and answers anything else with a reset; the segments it
 *   sends are wrapped in an IP header here and routed like any packet the
 *   router originates. While the control plane is frozen (a migration's
 *   commit), arriving TCP segments are kept, whole IP packets, for the
 *   router's next home instead of being processed.
 * - When an interface moves to another link, `announce` sends a gratuitous
 *   ARP for each IPv4 address and an unsolicited neighbour advertisement
 *   (override set) for each IPv6 address, so that neighbours re-learn where
 *   the router is at once.
 */
import { DropReason } from "./counters.ts";
import type { DataPlane, DataPlaneHost } from "./dataplane.ts";
import type { RouterInterface } from "./interface.ts";
import type { Neighbor } from "./neighbors.ts";
import {
  ARP_LEN,
  ArpOperation,
  arpOperation,
  arpSenderIp,
  arpSenderMac,
  arpTargetIp,
  checkArp,
  emitArp,
} from "./wire/arp.ts";
import { MAC_BROADCAST } from "./wire/bytes.ts";
import { internetChecksum, ipv6PseudoSumAt } from "./wire/checksum.ts";
import { EtherType } from "./wire/ethernet.ts";
import { checkIcmpv4, Icmpv4Type, icmpv4EchoToReply } from "./wire/icmpv4.ts";
import { checkIcmpv6, Icmpv6Type } from "./wire/icmpv6.ts";
import { IpProtocol } from "./wire/ip.ts";
import { fillIpv4Checksum, ipv4Dst, ipv4HeaderLen, ipv4Protocol, ipv4Src } from "./wire/ipv4.ts";
import { ipv6Dst, ipv6Src, ipv6WalkChain, newIpv6Chain } from "./wire/ipv6.ts";
import {
  checkNdp,
  emitNdp,
  NDP_HOP_LIMIT,
  NdpOptionType,
  ndpFindOption,
  ndpLinkLayerAddress,
  ndpTarget,
  solicitedNodeAddress,
} from "./wire/ndp.ts";

/** Scratch slot for ARP and neighbour discovery messages (see DataPlane.scratch). */
const CONTROL_SLOT = 3;
/** Scratch slot for TCP segments the router sends. */
export const TCP_SLOT = 4;

/** Where TCP segments for the router go: the router's TCP stack. */
export interface TcpInput {
  input(
    family: 4 | 6,
    src: Uint32Array,
    dst: Uint32Array,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void;
}

/** A segment to send, as the router's TCP stack emits it. */
export interface TcpSegmentOut {
  family: 4 | 6;
  src: Uint32Array;
  dst: Uint32Array;
  segment: Uint8Array;
}

export class HostStack implements DataPlaneHost {
  /** Set once the data plane exists (they refer to each other). */
  dataPlane!: DataPlane;
  private readonly chain = newIpv6Chain();
  private readonly a = new Uint32Array(4);
  private readonly b = new Uint32Array(4);
  private readonly src4 = new Uint32Array(1);
  private readonly dst4 = new Uint32Array(1);
  /** The router's TCP stack, once it has one. */
  tcp: TcpInput | undefined;
  /** Whole IP packets for the router kept while its control plane is frozen; undefined when not. */
  frozen: Uint8Array[] | undefined;
  /** The latest time the host stack saw, for segments sent outside `deliver` and `poll`. */
  now = 0;
  /** TCP segments that found no route out. */
  tcpUnroutable = 0;
  /** Called after each TCP segment sent (the router wakes itself when outside receive and poll). */
  onStrayOutput: () => void = () => {};

  constructor(readonly flush: (ifc: RouterInterface) => void) {}

  // ---- delivery -------------------------------------------------------------

  deliver(ifc: RouterInterface, family: 4 | 6, off: number, len: number, now: number): void {
    this.now = now;
    if (family === 4) this.deliver4(ifc, off, len, now);
    else this.deliver6(ifc, off, len, now);
  }

  private get buf(): Uint8Array {
    return this.dataPlane.scratch.arena;
  }

  private deliver4(ifc: RouterInterface, off: number, len: number, now: number): void {
    const buf = this.buf;
    const dp = this.dataPlane;
    const hl = ipv4HeaderLen(buf, off);
    const protocol = ipv4Protocol(buf, off);
    if ((buf[off + 6] & 0x3f) !== 0 || buf[off + 7] !== 0) {
      // Fragments for the router: it reassembles nothing it does not need.
      ifc.counters.drop(DropReason.LocalUnhandled);
      return;
    }
    if (protocol === IpProtocol.Icmp) {
      if (checkIcmpv4(buf, off + hl, len - hl) !== 0) {
        ifc.counters.drop(DropReason.Malformed);
        return;
      }
      if (buf[off + hl] !== Icmpv4Type.EchoRequest) return;
      // Echo reply: the request itself, turned around in the scratch slot.
      const at = dp.scratch.start(0);
      buf.copyWithin(at, off, off + len);
      const src = ipv4Src(buf, at);
      const dst = ipv4Dst(buf, at);
      dp.ipv4Header(buf, at, dst, src, IpProtocol.Icmp, len);
      if (hl > 20) {
        // Options are not echoed: move the ICMP message up behind a plain header.
        buf.copyWithin(at + 20, off + hl, off + len);
        len -= hl - 20;
        buf[at + 2] = len >>> 8;
        buf[at + 3] = len & 0xff;
        fillIpv4Checksum(buf, at);
      }
      icmpv4EchoToReply(buf, at + 20);
      dp.originate4(buf, at, len, now);
      return;
    }
    if (protocol === IpProtocol.Tcp && this.tcp) {
      if (this.frozen) {
        this.frozen.push(buf.slice(off, off + len));
        return;
      }
      this.src4[0] = ipv4Src(buf, off);
      this.dst4[0] = ipv4Dst(buf, off);
      this.tcp.input(4, this.src4, this.dst4, buf, off + hl, len - hl, now);
      return;
    }
    ifc.counters.drop(DropReason.LocalUnhandled);
    if (protocol === IpProtocol.Udp)
      dp.error4(ifc, buf, off, len, Icmpv4Type.DstUnreachable, 3, 0, now);
    else if (protocol !== IpProtocol.Tcp)
      dp.error4(ifc, buf, off, len, Icmpv4Type.DstUnreachable, 2, 0, now);
  }

  private deliver6(ifc: RouterInterface, off: number, len: number, now: number): void {
    const buf = this.buf;
    const dp = this.dataPlane;
    if (ipv6WalkChain(buf, off, len, this.chain) !== 0) {
      ifc.counters.drop(DropReason.Malformed);
      return;
    }
    const { protocol, offset, fragmentAt } = this.chain;
    if (fragmentAt >= 0) {
      ifc.counters.drop(DropReason.LocalUnhandled);
      return;
    }
    if (protocol === IpProtocol.Icmpv6) {
      const at = off + offset;
      const n = len - offset;
      if (checkIcmpv6(buf, at, n, ipv6PseudoSumAt(buf, off, IpProtocol.Icmpv6)) !== 0) {
        ifc.counters.drop(DropReason.Malformed);
        return;
      }
      const type = buf[at];
      if (type === Icmpv6Type.EchoRequest) this.echo6(ifc, off, len, at - off, now);
      else if (type === Icmpv6Type.NeighborSolicitation) this.solicitation(ifc, off, at, n, now);
      else if (type === Icmpv6Type.NeighborAdvertisement) this.advertisement(ifc, off, at, n, now);
      return;
    }
    if (protocol === IpProtocol.Tcp && this.tcp) {
      if (this.frozen) {
        this.frozen.push(buf.slice(off, off + len));
        return;
      }
      ipv6Src(buf, off, this.a);
      ipv6Dst(buf, off, this.b);
      this.tcp.input(6, this.a, this.b, buf, off + offset, len - offset, now);
      return;
    }
    ifc.counters.drop(DropReason.LocalUnhandled);
    if (protocol === IpProtocol.Udp)
      dp.error6(ifc, buf, off, len, Icmpv6Type.DstUnreachable, 4, 0, now);
    else if (protocol !== IpProtocol.Tcp)
      dp.error6(ifc, buf, off, len, Icmpv6Type.ParameterProblem, 1, this.chain.protocolAt, now);
  }

  private echo6(ifc: RouterInterface, off: number, len: number, icmpAt: number, now: number): void {
    const buf = this.buf;
    const dp = this.dataPlane;
    ipv6Dst(buf, off, this.a);
    if (this.a[0] >>> 24 === 0xff) {
      // Answer multicast echo from the interface's own address.
      const src = ifc.linkLocal ?? ifc.ipv6[0]?.address;
      if (!src) return;
      this.a.set(src);
    }
    const at = dp.scratch.start(0);
    const payload = len - icmpAt;
    buf.copyWithin(at + 40, off + icmpAt, off + len);
    dp.ipv6Header(buf, at, this.a, off + 8, IpProtocol.Icmpv6, payload);
    buf[at + 40] = Icmpv6Type.EchoReply;
    buf[at + 42] = 0;
    buf[at + 43] = 0;
    const sum = internetChecksum(
      buf,
      at + 40,
      payload,
      ipv6PseudoSumAt(buf, at, IpProtocol.Icmpv6, payload),
    );
    buf[at + 42] = sum >>> 8;
    buf[at + 43] = sum & 0xff;
    dp.originate6(buf, at, 40 + payload, now, ifc);
  }

  private solicitation(
    ifc: RouterInterface,
    off: number,
    at: number,
    n: number,
    now: number,
  ): void {
    const buf = this.buf;
    if (checkNdp(buf, at, n) !== 0 || buf[off + 7] !== NDP_HOP_LIMIT) {
      ifc.counters.drop(DropReason.Malformed);
      return;
    }
    ndpTarget(buf, at, this.a);
    if (!ifc.owns6(this.a)) return;
    ipv6Src(buf, off, this.b);
    const unspecified = (this.b[0] | this.b[1] | this.b[2] | this.b[3]) === 0;
    const opt = ndpFindOption(buf, at, n, NdpOptionType.SourceLinkLayerAddress);
    if (!unspecified && opt >= 0) {
      const mac = ndpLinkLayerAddress(buf, at + opt);
      if (mac >= 0) this.resolved(ifc, 6, ifc.nd.confirm(this.b, 0, mac, now, true), now);
    }
    // Solicited advertisement to the asker (to all nodes when it has no address yet).
    const dst = unspecified ? Uint32Array.of(0xff020000, 0, 0, 1) : this.b.slice();
    this.advertise(ifc, this.a.slice(), dst, !unspecified, now);
  }

  private advertisement(
    ifc: RouterInterface,
    off: number,
    at: number,
    n: number,
    now: number,
  ): void {
    const buf = this.buf;
    if (checkNdp(buf, at, n) !== 0 || buf[off + 7] !== NDP_HOP_LIMIT) {
      ifc.counters.drop(DropReason.Malformed);
      return;
    }
    ndpTarget(buf, at, this.a);
    const opt = ndpFindOption(buf, at, n, NdpOptionType.TargetLinkLayerAddress);
    if (opt < 0) return;
    const mac = ndpLinkLayerAddress(buf, at + opt);
    if (mac < 0) return;
    this.resolved(ifc, 6, ifc.nd.confirm(this.a, 0, mac, now, false), now);
  }

  // ---- TCP out ---------------------------------------------------------------

  /** Wraps a segment of the router's TCP in an IP header and routes it. */
  sendTcp(out: TcpSegmentOut): void {
    const buf = this.buf;
    const dp = this.dataPlane;
    const at = dp.scratch.start(TCP_SLOT);
    const n = out.segment.length;
    let sent: boolean;
    if (out.family === 4) {
      buf.set(out.segment, at + 20);
      dp.ipv4Header(buf, at, out.src[0], out.dst[0], IpProtocol.Tcp, 20 + n);
      sent = dp.originate4(buf, at, 20 + n, this.now);
    } else {
      buf.set(out.segment, at + 40);
      for (let w = 0; w < 4; w++) writeWord(buf, at + 24 + w * 4, out.dst[w]);
      dp.ipv6Header(buf, at, out.src, at + 24, IpProtocol.Tcp, n);
      sent = dp.originate6(buf, at, 40 + n, this.now);
    }
    if (!sent) this.tcpUnroutable++;
    this.onStrayOutput();
  }

  // ---- ARP -----------------------------------------------------------------

  arp(ifc: RouterInterface, off: number, len: number, now: number): void {
    const buf = this.buf;
    if (checkArp(buf, off, len) !== 0) {
      ifc.counters.drop(DropReason.Malformed);
      return;
    }
    const op = arpOperation(buf, off);
    const senderIp = arpSenderIp(buf, off);
    const senderMac = arpSenderMac(buf, off);
    const targetIp = arpTargetIp(buf, off);
    // Someone else claiming one of our addresses is not learned.
    if (ifc.owns4(senderIp)) return;
    const forUs = ifc.owns4(targetIp);
    if (
      ifc.ipv4.some(
        (a) => a.length < 32 && sameSubnet4(a.address, senderIp, a.length) && isHost4(senderIp, a),
      )
    ) {
      this.a[0] = senderIp;
      this.resolved(ifc, 4, ifc.arp.confirm(this.a, 0, senderMac, now, forUs), now);
    }
    if (op !== ArpOperation.Request || !forUs) return;
    const at = this.dataPlane.scratch.start(0);
    emitArp(
      {
        operation: ArpOperation.Reply,
        senderMac: ifc.mac,
        senderIp: targetIp,
        targetMac: senderMac,
        targetIp: senderIp,
      },
      buf,
      at,
    );
    this.dataPlane.push(ifc, buf, at, ARP_LEN, senderMac, EtherType.Arp);
  }

  // ---- resolution ----------------------------------------------------------

  solicit(ifc: RouterInterface, family: 4 | 6, n: Neighbor, now: number): void {
    const buf = this.buf;
    const dp = this.dataPlane;
    const at = dp.scratch.start(CONTROL_SLOT);
    if (family === 4) {
      const target = n.address[0];
      const own = ifc.ipv4.find((a) => sameSubnet4(a.address, target, a.length)) ?? ifc.ipv4[0];
      if (!own) return;
      emitArp(
        {
          operation: ArpOperation.Request,
          senderMac: ifc.mac,
          senderIp: own.address,
          targetMac: 0,
          targetIp: target,
        },
        buf,
        at,
      );
      dp.push(ifc, buf, at, ARP_LEN, MAC_BROADCAST, EtherType.Arp);
      this.flush(ifc);
      return;
    }
    const src = ifc.linkLocal ?? ifc.ipv6[0]?.address;
    if (!src) return;
    const group = new Uint32Array(4);
    solicitedNodeAddress(n.address, group);
    const ndp = {
      kind: "neighborSolicitation" as const,
      reserved: 0,
      target: n.address,
      options: [{ kind: "sourceLinkLayer" as const, address: ifc.mac }],
    };
    this.sendNdp(ifc, src, group, ndp, now);
  }

  /** Sends the packets that waited for a neighbour that just resolved. */
  private resolved(ifc: RouterInterface, family: 4 | 6, waiting: Uint8Array[], now: number): void {
    if (waiting.length === 0) return;
    const buf = this.buf;
    const at = this.dataPlane.scratch.start(0);
    for (const packet of waiting) {
      buf.set(packet, at);
      if (family === 4) this.dataPlane.originate4(buf, at, packet.length, now);
      else this.dataPlane.originate6(buf, at, packet.length, now, ifc);
    }
    this.dataPlane.flushAll();
  }

  /** Packets whose neighbour never answered: host unreachable for each (RFC 1812 4.3.3.1). */
  unreachable(ifc: RouterInterface, family: 4 | 6, waiting: Uint8Array[], now: number): void {
    const buf = this.buf;
    const at = this.dataPlane.scratch.start(2);
    for (const packet of waiting) {
      ifc.counters.drop(DropReason.NeighborUnresolved);
      buf.set(packet, at);
      if (family === 4)
        this.dataPlane.error4(ifc, buf, at, packet.length, Icmpv4Type.DstUnreachable, 1, 0, now);
      else this.dataPlane.error6(ifc, buf, at, packet.length, 1, 3, 0, now);
    }
    this.dataPlane.flushAll();
  }

  // ---- announcements ---------------------------------------------------------

  /** Gratuitous ARP and unsolicited advertisements for every address of `ifc` (an L2 interface). */
  announce(ifc: RouterInterface, now: number): void {
    if (ifc.layer !== "l2") return;
    const buf = this.buf;
    const at = this.dataPlane.scratch.start(CONTROL_SLOT);
    for (const a of ifc.ipv4) {
      emitArp(
        {
          operation: ArpOperation.Request,
          senderMac: ifc.mac,
          senderIp: a.address,
          targetMac: 0,
          targetIp: a.address,
        },
        buf,
        at,
      );
      this.dataPlane.push(ifc, buf, at, ARP_LEN, MAC_BROADCAST, EtherType.Arp);
    }
    const allNodes = Uint32Array.of(0xff020000, 0, 0, 1);
    if (ifc.linkLocal) this.advertise(ifc, ifc.linkLocal, allNodes, false, now);
    for (const a of ifc.ipv6) this.advertise(ifc, a.address, allNodes, false, now);
    this.flush(ifc);
  }

  private advertise(
    ifc: RouterInterface,
    target: Uint32Array,
    dst: Uint32Array,
    solicited: boolean,
    now: number,
  ): void {
    const ndp = {
      kind: "neighborAdvertisement" as const,
      router: true,
      solicited,
      override: true,
      reserved: 0,
      target,
      options: [{ kind: "targetLinkLayer" as const, address: ifc.mac }],
    };
    // RFC 4861 4.4: sent from an address of the interface; the link-local one when there is one.
    this.sendNdp(ifc, ifc.linkLocal ?? target, dst, ndp, now);
  }

  private sendNdp(
    ifc: RouterInterface,
    src: Uint32Array,
    dst: Uint32Array,
    ndp: Parameters<typeof emitNdp>[0],
    now: number,
  ): void {
    const buf = this.buf;
    const dp = this.dataPlane;
    const at = dp.scratch.start(CONTROL_SLOT);
    writeAddr(buf, at + 24, dst);
    dp.ipv6Header(buf, at, src, at + 24, IpProtocol.Icmpv6, 0, NDP_HOP_LIMIT);
    const n = emitNdp(ndp, buf, at + 40, ipv6PseudoSumAt(buf, at, IpProtocol.Icmpv6));
    buf[at + 4] = n >>> 8;
    buf[at + 5] = n & 0xff;
    dp.output6(ifc, dst, 0, buf, at, 40 + n, now);
  }
}

function sameSubnet4(a: number, b: number, length: number): boolean {
  return length === 0 || (a ^ b) >>> (32 - length) === 0;
}

/** Whether `addr` is a host address of subnet `net` (neither its network nor its broadcast address, on /30 and wider). */
function isHost4(addr: number, net: { length: number }): boolean {
  if (net.length >= 31) return true;
  const host = (addr & (0xffffffff >>> net.length)) >>> 0;
  return host !== 0 && host !== 0xffffffff >>> net.length;
}

function writeAddr(buf: Uint8Array, at: number, words: ArrayLike<number>): void {
  for (let w = 0; w < 4; w++) {
    const v = words[w];
    buf[at + w * 4] = v >>> 24;
    buf[at + w * 4 + 1] = (v >>> 16) & 0xff;
    buf[at + w * 4 + 2] = (v >>> 8) & 0xff;
    buf[at + w * 4 + 3] = v & 0xff;
  }
}

function writeWord(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}
