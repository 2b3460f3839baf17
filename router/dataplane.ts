/**
 * The forwarding path of a virtual router (DESIGN.md, "Packet path"), over
 * batches and in three passes, VPP style:
 *
 * 1. parse: per packet, strip the Ethernet header (L2 interfaces; frames for
 *    other stations and unknown ethertypes are dropped, ARP goes to the host
 *    stack), check the IPv4 header (RFC 791, RFC 1812 section 5.2.2) or the
 *    IPv6 header (RFC 8200), drop martians, and collect destinations;
 * 2. look up all IPv4 destinations in one FIB batch lookup, then all IPv6;
 * 3. act per packet by adjacency: deliver to the host stack, reject, or
 *    forward: TTL / hop limit decremented with an incremental checksum
 *    update (RFC 1624), MTU checked (IPv4 fragmented when DF is clear,
 *    RFC 791; otherwise "fragmentation needed" (RFC 1191) or "packet too
 *    big" (RFC 8201)), then out through the interface: raw on L3, framed on
 *    L2 with the next hop's MAC from the neighbour cache, or queued while
 *    it resolves.
 *
 * ICMP errors (RFC 792, RFC 4443) are built in a scratch slot of the arena,
 * rate-limited per family, never sent about ICMP errors, multicast,
 * broadcast or non-first fragments, and routed like any packet the router
 * originates. Packets move by `arena.copyWithin`; nothing is allocated per
 * packet on the forwarding path.
 */
import type { Fib } from "../fib/fib.ts";
import { NO_ROUTE } from "../fib/types.ts";
import { AdjacencyKind, type AdjacencyTable } from "./adjacency.ts";
import type { PacketBatch } from "./batch.ts";
import { DropReason } from "./counters.ts";
import type { RouterInterface } from "./interface.ts";
import { type Neighbor, NeighborState, RETRANS_MS } from "./neighbors.ts";
import { TokenBucket } from "./ratelimit.ts";
import { ipv6PseudoSumAt } from "./wire/checksum.ts";
import {
  ETH_HEADER_LEN,
  EtherType,
  ethDst,
  ethHeaderLen,
  ethIsTagged,
  ethType,
  writeEthHeader,
} from "./wire/ethernet.ts";
import { emitIcmpv4Error, fillIcmpv4Checksum, Icmpv4Type, icmpv4IsError } from "./wire/icmpv4.ts";
import { emitIcmpv6Error, Icmpv6Type, icmpv6IsError } from "./wire/icmpv6.ts";
import { IpProtocol } from "./wire/ip.ts";
import {
  checkIpv4,
  fillIpv4Checksum,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_HEADER_LEN,
  Ipv4Error,
  ipv4DecrementTtl,
  ipv4Dst,
  ipv4FlagsFragment,
  ipv4FragmentOffset,
  ipv4HeaderLen,
  ipv4IsMulticast,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLen,
  ipv4Ttl,
} from "./wire/ipv4.ts";
import {
  checkIpv6,
  IPV6_HEADER_LEN,
  ipv6DecrementHopLimit,
  ipv6Dst,
  ipv6DstIsMulticast,
  ipv6HopLimit,
  ipv6PayloadLen,
  ipv6SrcIsLinkLocal,
  ipv6SrcIsUnspecified,
  ipv6WalkChain,
  newIpv6Chain,
} from "./wire/ipv6.ts";
import { ipv6MulticastMac } from "./wire/ndp.ts";

/** What the data plane needs from the rest of the router. */
export interface DataPlaneHost {
  /** A packet for the router itself (IPv4 or IPv6 at `off`). */
  deliver(ifc: RouterInterface, family: 4 | 6, off: number, len: number, now: number): void;
  /** An ARP frame's payload at `off`. */
  arp(ifc: RouterInterface, off: number, len: number, now: number): void;
  /** Asks for a neighbour's link-layer address now. */
  solicit(ifc: RouterInterface, family: 4 | 6, n: Neighbor, now: number): void;
  /** Sends an interface's pending output. */
  flush(ifc: RouterInterface): void;
}

const TTL_ORIGIN = 64;
/** ICMP errors a second, per family, and the burst allowed (Linux's defaults). */
const ICMP_RATE = 1000;
const ICMP_BURST = 50;

export class DataPlane {
  /**
   * Scratch slots (in the arena) for packets the router builds: 0 replies
   * and fragments, 1 ICMP errors, 2 returned pending packets, 3 link-layer
   * control messages (ARP, neighbour discovery).
   */
  readonly scratch: PacketBatch;
  private readonly icmpLimit4 = new TokenBucket(ICMP_RATE, ICMP_BURST);
  private readonly icmpLimit6 = new TokenBucket(ICMP_RATE, ICMP_BURST);
  // Per-batch working arrays (sized by the largest batch seen).
  private l3 = new Uint32Array(0);
  /** 1 when packet i came in a broadcast or multicast frame. */
  private group = new Uint8Array(0);
  private lens = new Uint32Array(0);
  private dst4 = new Uint32Array(0);
  private at4 = new Uint32Array(0);
  private hop4 = new Uint16Array(0);
  private dst6 = new Uint32Array(0);
  private at6 = new Uint32Array(0);
  private hop6 = new Uint16Array(0);
  private readonly chain = newIpv6Chain();
  private readonly words = new Uint32Array(4);

  constructor(
    private readonly fib: Fib,
    private readonly adjacencies: AdjacencyTable,
    private readonly interfaces: readonly RouterInterface[],
    private readonly host: DataPlaneHost,
    scratch: PacketBatch,
  ) {
    this.scratch = scratch;
  }

  private ensure(n: number): void {
    if (this.l3.length >= n) return;
    this.l3 = new Uint32Array(n);
    this.group = new Uint8Array(n);
    this.lens = new Uint32Array(n);
    this.dst4 = new Uint32Array(n);
    this.at4 = new Uint32Array(n);
    this.hop4 = new Uint16Array(n);
    this.dst6 = new Uint32Array(n * 4);
    this.at6 = new Uint32Array(n);
    this.hop6 = new Uint16Array(n);
  }

  /** Processes every packet of `batch`, received on `ifc`. */
  receive(ifc: RouterInterface, batch: PacketBatch, now: number): void {
    const count = batch.count;
    this.ensure(count);
    const buf = batch.arena;
    const c = ifc.counters;
    let n4 = 0;
    let n6 = 0;
    for (let i = 0; i < count; i++) {
      let off = batch.start(i);
      let len = batch.lengths[i];
      if (len === 0) continue;
      c.rxPackets++;
      c.rxBytes += len;
      let version: number;
      this.group[i] = 0;
      if (ifc.layer === "l2") {
        if (len < ETH_HEADER_LEN) {
          c.drop(DropReason.Malformed);
          continue;
        }
        const dstMac = ethDst(buf, off);
        // Unicast to another station (the group bit is the first octet's lowest).
        if (dstMac !== ifc.mac && (buf[off] & 1) === 0) {
          c.drop(DropReason.NotForUs);
          continue;
        }
        this.group[i] = buf[off] & 1;
        if (ethIsTagged(buf, off)) {
          c.drop(DropReason.NotForUs);
          continue;
        }
        const type = ethType(buf, off);
        const h = ethHeaderLen(buf, off);
        off += h;
        len -= h;
        if (type === EtherType.Arp) {
          this.host.arp(ifc, off, len, now);
          continue;
        }
        if (type === EtherType.Ipv4) version = 4;
        else if (type === EtherType.Ipv6) version = 6;
        else {
          c.drop(DropReason.NotForUs);
          continue;
        }
        if (len < 1 || buf[off] >>> 4 !== version) {
          c.drop(DropReason.Malformed);
          continue;
        }
      } else {
        version = buf[off] >>> 4;
      }
      if (version === 4) {
        const err = checkIpv4(buf, off, len);
        if (err !== 0) {
          c.drop(err === Ipv4Error.BadChecksum ? DropReason.BadChecksum : DropReason.Malformed);
          continue;
        }
        const src = ipv4Src(buf, off);
        const dst = ipv4Dst(buf, off);
        if (
          // Martians (RFC 1812 5.3.7): multicast, broadcast, "this network"
          // (0/8) and loopback sources; loopback and 0/8 destinations.
          ipv4IsMulticast(src) ||
          src === 0xffffffff ||
          src >>> 24 === 127 ||
          src >>> 24 === 0 ||
          dst >>> 24 === 127 ||
          dst >>> 24 === 0
        ) {
          c.drop(DropReason.Martian);
          continue;
        }
        if (ipv4IsMulticast(dst) || dst === 0xffffffff) {
          c.drop(DropReason.Scope);
          continue;
        }
        this.l3[i] = off;
        this.lens[i] = ipv4TotalLen(buf, off);
        this.dst4[n4] = dst;
        this.at4[n4++] = i;
      } else if (version === 6) {
        if (checkIpv6(buf, off, len) !== 0) {
          c.drop(DropReason.Malformed);
          continue;
        }
        const plen = IPV6_HEADER_LEN + ipv6PayloadLen(buf, off);
        if (
          ipv6DstIsMulticast(buf, off) ||
          (buf[off + 24] === 0xfe && (buf[off + 25] & 0xc0) === 0x80)
        ) {
          // Multicast and link-local destinations never leave the link.
          ipv6Dst(buf, off, this.words);
          if (ifc.owns6(this.words) || this.listens6(ifc, this.words))
            this.host.deliver(ifc, 6, off, plen, now);
          else c.drop(DropReason.Scope);
          continue;
        }
        // Martians: a multicast source (RFC 4291 2.7), loopback either way
        // and an unspecified destination (RFC 4291 2.5.2, 2.5.3).
        if (
          buf[off + 8] === 0xff ||
          isLoopback6(buf, off + 8) ||
          isLoopback6(buf, off + 24) ||
          isUnspecified6(buf, off + 24)
        ) {
          c.drop(DropReason.Martian);
          continue;
        }
        this.l3[i] = off;
        this.lens[i] = plen;
        ipv6Dst(buf, off, this.dst6, n6 * 4);
        this.at6[n6++] = i;
      } else {
        c.drop(DropReason.Malformed);
      }
    }
    if (n4 > 0) this.fib.lookupBatch4(this.dst4, this.hop4, n4);
    if (n6 > 0) this.fib.lookupBatch6(this.dst6, this.hop6, n6);
    for (let k = 0; k < n4; k++) {
      const i = this.at4[k];
      this.act4(ifc, buf, this.l3[i], this.lens[i], this.hop4[k], this.group[i] === 1, now);
    }
    for (let k = 0; k < n6; k++) {
      const i = this.at6[k];
      this.act6(ifc, buf, this.l3[i], this.lens[i], this.hop6[k], k, this.group[i] === 1, now);
    }
    this.flushAll();
  }

  /** Multicast groups every IPv6 interface listens to: all-nodes, all-routers, its solicited-node groups. */
  private listens6(ifc: RouterInterface, w: Uint32Array): boolean {
    if (w[0] !== 0xff020000 || w[1] !== 0) return false;
    if (w[2] === 0 && (w[3] === 1 || w[3] === 2)) return true;
    if (w[2] !== 1 || w[3] >>> 24 !== 0xff) return false;
    const low = w[3] & 0xffffff;
    if (ifc.linkLocal && (ifc.linkLocal[3] & 0xffffff) === low) return true;
    for (const a of ifc.ipv6) if ((a.address[3] & 0xffffff) === low) return true;
    return false;
  }

  /**
   * Deals with a lookup result that does not forward: no route (net
   * unreachable), local delivery, reject (administratively prohibited,
   * RFC 1812 5.2.7.1 / RFC 4443 code 1) or blackhole. True when it did.
   */
  private settled(
    ifc: RouterInterface,
    family: 4 | 6,
    buf: Uint8Array,
    off: number,
    len: number,
    hop: number,
    group: boolean,
    now: number,
  ): boolean {
    const kind = hop === NO_ROUTE ? -1 : this.adjacencies.kind[hop];
    if (kind === AdjacencyKind.Local) {
      this.host.deliver(ifc, family, off, len, now);
      return true;
    }
    if (group) {
      // RFC 1812 5.3.4: unicast IP in a link-layer broadcast or multicast is not forwarded.
      ifc.counters.drop(DropReason.NotForUs);
      return true;
    }
    if (kind === AdjacencyKind.Forward) return false;
    ifc.counters.drop(kind === -1 ? DropReason.NoRoute : DropReason.Prohibited);
    if (kind === AdjacencyKind.Blackhole) return true;
    if (family === 4) {
      this.error4(ifc, buf, off, len, Icmpv4Type.DstUnreachable, kind === -1 ? 0 : 13, 0, now);
    } else {
      this.error6(ifc, buf, off, len, Icmpv6Type.DstUnreachable, kind === -1 ? 0 : 1, 0, now);
    }
    return true;
  }

  private act4(
    ifc: RouterInterface,
    buf: Uint8Array,
    off: number,
    len: number,
    hop: number,
    group: boolean,
    now: number,
  ): void {
    if (this.settled(ifc, 4, buf, off, len, hop, group, now)) return;
    const c = ifc.counters;
    if (ipv4Ttl(buf, off) <= 1) {
      c.drop(DropReason.TtlExpired);
      this.error4(ifc, buf, off, len, Icmpv4Type.TimeExceeded, 0, 0, now);
      return;
    }
    ipv4DecrementTtl(buf, off);
    const out = this.interfaces[this.adjacencies.ifIndex[hop]];
    const onLink = this.adjacencies.viaGateway[hop] === 0;
    const next = onLink ? ipv4Dst(buf, off) : this.adjacencies.gateway[hop * 4];
    if (onLink && isSubnetBroadcast(out, next)) {
      // RFC 2644: directed broadcasts are not forwarded.
      c.drop(DropReason.Scope);
      return;
    }
    if (len > out.mtu) {
      if (ipv4FlagsFragment(buf, off) & IPV4_FLAG_DF) {
        c.drop(DropReason.TooBig);
        this.error4(ifc, buf, off, len, Icmpv4Type.DstUnreachable, 4, out.mtu, now);
        return;
      }
      this.fragment4(out, next, buf, off, len, now);
      return;
    }
    this.output4(out, next, buf, off, len, now);
  }

  private act6(
    ifc: RouterInterface,
    buf: Uint8Array,
    off: number,
    len: number,
    hop: number,
    k: number,
    group: boolean,
    now: number,
  ): void {
    if (this.settled(ifc, 6, buf, off, len, hop, group, now)) return;
    const c = ifc.counters;
    if (ipv6SrcIsLinkLocal(buf, off) || ipv6SrcIsUnspecified(buf, off)) {
      // RFC 4291 2.5.6: link-local sources are not forwarded; answer "beyond scope".
      c.drop(DropReason.Scope);
      if (!ipv6SrcIsUnspecified(buf, off))
        this.error6(ifc, buf, off, len, Icmpv6Type.DstUnreachable, 2, 0, now);
      return;
    }
    if (ipv6HopLimit(buf, off) <= 1) {
      c.drop(DropReason.TtlExpired);
      this.error6(ifc, buf, off, len, Icmpv6Type.TimeExceeded, 0, 0, now);
      return;
    }
    const out = this.interfaces[this.adjacencies.ifIndex[hop]];
    if (len > out.mtu) {
      c.drop(DropReason.TooBig);
      this.error6(ifc, buf, off, len, Icmpv6Type.PacketTooBig, 0, out.mtu, now);
      return;
    }
    ipv6DecrementHopLimit(buf, off);
    const words = this.adjacencies.viaGateway[hop] ? this.adjacencies.gateway : this.dst6;
    this.output6(
      out,
      words,
      this.adjacencies.viaGateway[hop] ? hop * 4 : k * 4,
      buf,
      off,
      len,
      now,
    );
  }

  /** Sends the IPv4 packet at `buf[off]` out of `out` towards next hop `next`. */
  output4(
    out: RouterInterface,
    next: number,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void {
    if (out.layer === "l3") {
      this.push(out, buf, off, len, 0, 0);
      return;
    }
    this.words[0] = next;
    this.resolveAndPush(out, 4, this.words, 0, buf, off, len, now);
  }

  /** Sends the IPv6 packet at `buf[off]` out of `out` towards the next hop at `nextWords[nextOff]`. */
  output6(
    out: RouterInterface,
    nextWords: ArrayLike<number>,
    nextOff: number,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void {
    if (out.layer === "l3") {
      this.push(out, buf, off, len, 0, 0);
      return;
    }
    if (nextWords[nextOff] >>> 24 === 0xff) {
      this.push(out, buf, off, len, ipv6MulticastMac(nextWords, nextOff), EtherType.Ipv6);
      return;
    }
    this.resolveAndPush(out, 6, nextWords, nextOff, buf, off, len, now);
  }

  /**
   * Frames a packet for the next hop at `addr[addrOff]` on L2 interface
   * `out`: sent at once when its MAC is known (a STALE entry is re-probed
   * meanwhile), else queued while the router asks for it.
   */
  private resolveAndPush(
    out: RouterInterface,
    family: 4 | 6,
    addr: ArrayLike<number>,
    addrOff: number,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void {
    const cache = family === 4 ? out.arp : out.nd;
    const n = cache.get(addr, addrOff);
    if (n !== undefined && n.state !== NeighborState.Incomplete) {
      this.push(out, buf, off, len, n.mac, family === 4 ? EtherType.Ipv4 : EtherType.Ipv6);
      if (cache.touch(n, now)) this.host.solicit(out, family, n, now);
      return;
    }
    const waiting = n ?? cache.getOrCreate(addr, addrOff, now);
    if (waiting === undefined || !cache.enqueue(waiting, buf, off, len)) {
      out.counters.drop(DropReason.NeighborUnresolved);
      return;
    }
    if (waiting.probes === 0) {
      waiting.probes = 1;
      waiting.deadline = now + RETRANS_MS;
      this.host.solicit(out, family, waiting, now);
    }
  }

  /**
   * Appends a packet to `out`'s batch, framed for `mac` with `ethertype` on
   * L2 interfaces; flushes first when the batch is full.
   */
  push(
    out: RouterInterface,
    buf: Uint8Array,
    off: number,
    len: number,
    mac: number,
    ethertype: number,
  ): void {
    const tx = out.tx;
    const frame = out.layer === "l2" ? ETH_HEADER_LEN + len : len;
    if (tx.count === tx.capacity) this.host.flush(out);
    const j = tx.reserve(frame);
    if (j < 0) {
      out.counters.drop(DropReason.TxFull);
      return;
    }
    let at = tx.start(j);
    if (out.layer === "l2") at += writeEthHeader(buf, at, mac, out.mac, ethertype);
    buf.copyWithin(at, off, off + len);
    out.counters.txPackets++;
    out.counters.txBytes += frame;
  }

  /** Sends every interface's pending output. */
  flushAll(): void {
    for (const ifc of this.interfaces) if (ifc.tx.count > 0) this.host.flush(ifc);
  }

  /**
   * Fragments an IPv4 packet for `out`'s MTU (RFC 791 section 3.2): every
   * fragment but the last carries a multiple of 8 payload octets; options
   * are copied into the first fragment whole and into later ones only when
   * their copied flag is set.
   */
  private fragment4(
    out: RouterInterface,
    next: number,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): void {
    const hl = ipv4HeaderLen(buf, off);
    const laterHl = this.copiedOptionsLength(buf, off, hl);
    const flags = ipv4FlagsFragment(buf, off);
    const baseOffset = ipv4FragmentOffset(buf, off) * 8;
    const scratch = this.scratch.start(0);
    let pos = hl;
    let first = true;
    while (pos < len) {
      const h = first ? hl : laterHl;
      const room = (out.mtu - h) & ~7;
      const take = Math.min(room, len - pos);
      const last = pos + take >= len;
      if (first) buf.copyWithin(scratch, off, off + hl);
      else {
        buf.copyWithin(scratch, off, off + IPV4_HEADER_LEN);
        this.writeCopiedOptions(buf, off, hl, scratch + IPV4_HEADER_LEN);
        buf[scratch] = 0x40 | (laterHl >>> 2);
      }
      buf.copyWithin(scratch + h, off + pos, off + pos + take);
      const more = !last || (flags & IPV4_FLAG_MF) !== 0;
      const fragOffset = (baseOffset + pos - hl) >>> 3;
      buf[scratch + 2] = (h + take) >>> 8;
      buf[scratch + 3] = (h + take) & 0xff;
      const ff = (flags & ~0x1fff & ~IPV4_FLAG_MF) | (more ? IPV4_FLAG_MF : 0) | fragOffset;
      buf[scratch + 6] = ff >>> 8;
      buf[scratch + 7] = ff & 0xff;
      fillIpv4Checksum(buf, scratch);
      this.output4(out, next, buf, scratch, h + take, now);
      pos += take;
      first = false;
    }
  }

  /** Length (padded to 4) of the options of the header at `off` whose copied flag is set. */
  private copiedOptionsLength(buf: Uint8Array, off: number, hl: number): number {
    let n = 0;
    this.walkOptions(buf, off, hl, (at, olen) => {
      if (buf[at] & 0x80) n += olen;
    });
    return IPV4_HEADER_LEN + ((n + 3) & ~3);
  }

  private writeCopiedOptions(buf: Uint8Array, off: number, hl: number, to: number): void {
    let w = to;
    this.walkOptions(buf, off, hl, (at, olen) => {
      if (buf[at] & 0x80) {
        buf.copyWithin(w, at, at + olen);
        w += olen;
      }
    });
    while ((w - to) & 3) buf[w++] = 0;
  }

  private walkOptions(
    buf: Uint8Array,
    off: number,
    hl: number,
    visit: (at: number, len: number) => void,
  ): void {
    let p = off + IPV4_HEADER_LEN;
    const end = off + hl;
    while (p < end) {
      const type = buf[p];
      if (type === 0) return;
      if (type === 1) {
        p++;
        continue;
      }
      const olen = p + 1 < end ? buf[p + 1] : 0;
      if (olen < 2 || p + olen > end) return;
      visit(p, olen);
      p += olen;
    }
  }

  /**
   * Answers the IPv4 packet at `buf[off]` with an ICMP error (RFC 1812
   * 4.3.2.7: never about an ICMP error, a non-first fragment, or a packet
   * from a multicast, broadcast or unspecified source), from the address of
   * the interface it came in on, routed back to its source.
   */
  error4(
    ifc: RouterInterface,
    buf: Uint8Array,
    off: number,
    len: number,
    type: number,
    code: number,
    mtu: number,
    now: number,
  ): void {
    const src = ipv4Src(buf, off);
    if (src === 0 || ipv4IsMulticast(src) || src === 0xffffffff) return;
    if (ipv4FragmentOffset(buf, off) !== 0) return;
    const hl = ipv4HeaderLen(buf, off);
    if (ipv4Protocol(buf, off) === IpProtocol.Icmp && len >= hl + 1 && icmpv4IsError(buf[off + hl]))
      return;
    const from = ifc.primary4 ?? this.anyAddress4();
    if (from === undefined) return;
    if (!this.icmpLimit4.take(now)) {
      ifc.counters.icmpSuppressed++;
      return;
    }
    const at = this.scratch.start(1);
    const icmpLen = emitIcmpv4Error(
      buf,
      at + IPV4_HEADER_LEN,
      type,
      code,
      mtu & 0xffff,
      buf,
      off,
      len,
    );
    this.ipv4Header(buf, at, from, src, IpProtocol.Icmp, IPV4_HEADER_LEN + icmpLen);
    fillIcmpv4Checksum(buf, at + IPV4_HEADER_LEN, icmpLen);
    this.originate4(buf, at, IPV4_HEADER_LEN + icmpLen, now);
  }

  /** Answers the IPv6 packet at `buf[off]` with an ICMPv6 error (RFC 4443 section 2.4 (e)). */
  error6(
    ifc: RouterInterface,
    buf: Uint8Array,
    off: number,
    len: number,
    type: number,
    code: number,
    param: number,
    now: number,
  ): void {
    if (ipv6SrcIsUnspecified(buf, off) || buf[off + 8] === 0xff) return;
    if (type !== Icmpv6Type.PacketTooBig && ipv6DstIsMulticast(buf, off)) return;
    if (ipv6WalkChain(buf, off, len, this.chain) === 0) {
      const ch = this.chain;
      if (
        ch.protocol === IpProtocol.Icmpv6 &&
        ch.offset < len &&
        icmpv6IsError(buf[off + ch.offset])
      )
        return;
      if (
        ch.fragmentAt >= 0 &&
        ((buf[off + ch.fragmentAt + 2] << 8) | buf[off + ch.fragmentAt + 3]) >>> 3 !== 0
      )
        return;
    }
    const from = this.source6For(ifc, buf, off);
    if (from === undefined) return;
    if (!this.icmpLimit6.take(now)) {
      ifc.counters.icmpSuppressed++;
      return;
    }
    const at = this.scratch.start(1);
    // Header first (addresses feed the checksum), then the message.
    this.ipv6Header(buf, at, from, off + 8, IpProtocol.Icmpv6, 0);
    const icmpLen = emitIcmpv6Error(
      buf,
      at + IPV6_HEADER_LEN,
      type,
      code,
      param,
      buf,
      off,
      len,
      ipv6PseudoSumAt(buf, at, IpProtocol.Icmpv6),
    );
    buf[at + 4] = icmpLen >>> 8;
    buf[at + 5] = icmpLen & 0xff;
    this.originate6(buf, at, IPV6_HEADER_LEN + icmpLen, now);
  }

  /** The source for an error about a packet from `buf[off + 8]`: link-local for link-local peers. */
  private source6For(ifc: RouterInterface, buf: Uint8Array, off: number): Uint32Array | undefined {
    if (ipv6SrcIsLinkLocal(buf, off)) return ifc.linkLocal;
    if (ifc.ipv6.length > 0) return ifc.ipv6[0].address;
    for (const other of this.interfaces) if (other.ipv6.length > 0) return other.ipv6[0].address;
    return ifc.linkLocal;
  }

  private anyAddress4(): number | undefined {
    for (const other of this.interfaces) if (other.primary4 !== undefined) return other.primary4;
    return undefined;
  }

  /** Writes a 20-byte IPv4 header at `at` (checksum included). */
  ipv4Header(
    buf: Uint8Array,
    at: number,
    src: number,
    dst: number,
    protocol: number,
    total: number,
  ): void {
    buf.fill(0, at, at + IPV4_HEADER_LEN);
    buf[at] = 0x45;
    buf[at + 2] = total >>> 8;
    buf[at + 3] = total & 0xff;
    buf[at + 8] = TTL_ORIGIN;
    buf[at + 9] = protocol;
    for (let b = 0; b < 4; b++) {
      buf[at + 12 + b] = (src >>> (24 - 8 * b)) & 0xff;
      buf[at + 16 + b] = (dst >>> (24 - 8 * b)) & 0xff;
    }
    fillIpv4Checksum(buf, at);
  }

  /** Writes a 40-byte IPv6 header at `at`; the destination is copied from `buf[dstAt..+16]`. */
  ipv6Header(
    buf: Uint8Array,
    at: number,
    src: ArrayLike<number>,
    dstAt: number,
    nextHeader: number,
    payload: number,
    hopLimit = TTL_ORIGIN,
  ): void {
    buf.copyWithin(at + 24, dstAt, dstAt + 16);
    buf.fill(0, at, at + 8);
    buf[at] = 0x60;
    buf[at + 4] = payload >>> 8;
    buf[at + 5] = payload & 0xff;
    buf[at + 6] = nextHeader;
    buf[at + 7] = hopLimit;
    for (let w = 0; w < 4; w++) {
      const v = src[w];
      buf[at + 8 + w * 4] = v >>> 24;
      buf[at + 9 + w * 4] = (v >>> 16) & 0xff;
      buf[at + 10 + w * 4] = (v >>> 8) & 0xff;
      buf[at + 11 + w * 4] = v & 0xff;
    }
  }

  /** Routes an IPv4 packet the router built (at `buf[at]`) towards its destination. */
  originate4(buf: Uint8Array, at: number, len: number, now: number): boolean {
    const dst = ipv4Dst(buf, at);
    const hop = this.fib.lookup4(dst);
    if (hop === NO_ROUTE || this.adjacencies.kind[hop] !== AdjacencyKind.Forward) return false;
    const out = this.interfaces[this.adjacencies.ifIndex[hop]];
    const next = this.adjacencies.viaGateway[hop] ? this.adjacencies.gateway[hop * 4] : dst;
    if (len > out.mtu) return false;
    this.output4(out, next, buf, at, len, now);
    return true;
  }

  /** Routes an IPv6 packet the router built; link-scope destinations go out of `via`. */
  originate6(
    buf: Uint8Array,
    at: number,
    len: number,
    now: number,
    via?: RouterInterface,
  ): boolean {
    ipv6Dst(buf, at, this.words);
    const w = this.words;
    const linkScope = w[0] >>> 16 === 0xfe80 || w[0] >>> 24 === 0xff;
    if (linkScope) {
      if (!via) return false;
      this.output6(via, w, 0, buf, at, len, now);
      return true;
    }
    const hop = this.fib.lookup6(w);
    if (hop === NO_ROUTE || this.adjacencies.kind[hop] !== AdjacencyKind.Forward) return false;
    const out = this.interfaces[this.adjacencies.ifIndex[hop]];
    if (len > out.mtu) return false;
    if (this.adjacencies.viaGateway[hop])
      this.output6(out, this.adjacencies.gateway, hop * 4, buf, at, len, now);
    else this.output6(out, w, 0, buf, at, len, now);
    return true;
  }
}

function isLoopback6(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < 15; i++) if (buf[at + i] !== 0) return false;
  return buf[at + 15] === 1;
}

function isUnspecified6(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[at + i] !== 0) return false;
  return true;
}

/** Whether `addr` is the broadcast address of one of `ifc`'s IPv4 subnets (of /30 or wider). */
function isSubnetBroadcast(ifc: RouterInterface, addr: number): boolean {
  for (const a of ifc.ipv4) {
    if (a.length > 30) continue;
    const host = a.length === 0 ? 0xffffffff : 0xffffffff >>> a.length;
    if ((a.address | host) >>> 0 === addr) return true;
  }
  return false;
}
