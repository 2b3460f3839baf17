/**
 * Small fake routers (RouterPort, router/port.ts) for the hypervisor's tests,
 * until the real router exists: a forwarder between interfaces that records
 * what it saw, an L3 echo responder (ICMP echo, RFC 792) for TUN links, an
 * L2 one (ARP, RFC 826, and ICMP echo in Ethernet II frames) for TAP and
 * VXLAN links, and helpers to build and read batches.
 */
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { type MemoryLink, memoryLinkPair } from "../../hypervisor/links/memory.ts";
import { PacketArena, type PacketBatch } from "../../router/batch.ts";
import type { InterfaceLayer, PortInterface, RouterPort, TransmitFn } from "../../router/port.ts";
import {
  ArpOperation,
  arpOperation,
  arpRequestToReply,
  arpTargetIp,
} from "../../router/wire/arp.ts";
import { read16, read32, read48, write32, write48 } from "../../router/wire/bytes.ts";
import { EtherType } from "../../router/wire/ethernet.ts";
import { Icmpv4Type, icmpv4EchoToReply } from "../../router/wire/icmpv4.ts";
import { IpProtocol } from "../../router/wire/ip.ts";

/** A router with `n` interfaces of one layer; subclasses decide what receive does. */
export abstract class FakeRouter implements RouterPort {
  readonly name: string;
  readonly #interfaces: PortInterface[];
  transmit: TransmitFn = () => {
    throw new Error("no transmit set");
  };
  /** Deadlines `poll` answers (the earliest not yet passed), and the times it was called. */
  deadlines: number[] = [];
  polls: number[] = [];

  constructor(name: string, n: number, layer: InterfaceLayer = "l3") {
    this.name = name;
    this.#interfaces = Array.from({ length: n }, (_, index) => ({
      index,
      name: `if${index}`,
      layer,
      mtu: 1500,
    }));
  }

  interfaces(): readonly PortInterface[] {
    return this.#interfaces;
  }

  setTransmit(transmit: TransmitFn): void {
    this.transmit = transmit;
  }

  abstract receive(ifIndex: number, batch: PacketBatch, now: number): void;

  poll(now: number): number {
    this.polls.push(now);
    this.deadlines = this.deadlines.filter((d) => d > now);
    return this.deadlines.length > 0 ? Math.min(...this.deadlines) : Number.POSITIVE_INFINITY;
  }
}

/**
 * Records every packet it receives (copies, per interface) and, when
 * `forward` maps the interface, sends a copy out of the mapped one from its
 * own batch, as a real router's output batch is its own.
 */
export class ForwardRouter extends FakeRouter {
  readonly received: Uint8Array[][];
  readonly #tx = new PacketArena(64 * 2048).batch(64);
  forward: Record<number, number>;

  constructor(
    name: string,
    n: number,
    forward: Record<number, number> = {},
    layer: InterfaceLayer = "l3",
  ) {
    super(name, n, layer);
    this.received = Array.from({ length: n }, () => []);
    this.forward = forward;
  }

  receive(ifIndex: number, batch: PacketBatch): void {
    const out = this.forward[ifIndex];
    this.#tx.clear();
    for (let i = 0; i < batch.count; i++) {
      const len = batch.lengths[i];
      if (len === 0) continue;
      const s = batch.start(i);
      this.received[ifIndex].push(batch.arena.slice(s, s + len));
      if (out !== undefined) {
        const j = this.#tx.reserve(len);
        this.#tx.arena.set(batch.arena.subarray(s, s + len), this.#tx.start(j));
      }
    }
    if (out !== undefined && this.#tx.count > 0) this.transmit(out, this.#tx);
  }
}

/** Swaps the IPv4 source and destination of the packet at `off` (the checksum is unchanged). */
function swapIpv4(buf: Uint8Array, off: number): void {
  const src = read32(buf, off + 12);
  write32(buf, off + 12, read32(buf, off + 16));
  write32(buf, off + 16, src);
}

/** At `off`: an IPv4 ICMP echo request (to `to`, if given)? Answers the ICMP offset or -1. */
function echoRequestAt(buf: Uint8Array, off: number, len: number, to?: number): number {
  if (len < 28 || buf[off] >> 4 !== 4 || buf[off + 9] !== IpProtocol.Icmp) return -1;
  if (to !== undefined && read32(buf, off + 16) !== to) return -1;
  const ihl = (buf[off] & 15) * 4;
  if (len < ihl + 8 || buf[off + ihl] !== Icmpv4Type.EchoRequest) return -1;
  return off + ihl;
}

/** L3 echo: answers every IPv4 ICMP echo request on the interface it came from; drops the rest. */
export class EchoRouter extends FakeRouter {
  echoed = 0;

  receive(ifIndex: number, batch: PacketBatch): void {
    const { arena, lengths } = batch;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.start(i);
      const icmp = echoRequestAt(arena, off, lengths[i]);
      if (icmp < 0) {
        lengths[i] = 0;
        continue;
      }
      swapIpv4(arena, off);
      icmpv4EchoToReply(arena, icmp);
      this.echoed++;
    }
    this.transmit(ifIndex, batch);
  }
}

/**
 * L2 echo on every interface: owns `mac` and IPv4 `ip`; answers ARP requests
 * for `ip` and ICMP echo requests to it, from `mac`; drops everything else.
 */
export class L2EchoRouter extends FakeRouter {
  readonly mac: number;
  readonly ip: number;
  echoed = 0;
  arps = 0;

  constructor(name: string, mac: number, ip: number, n = 1) {
    super(name, n, "l2");
    this.mac = mac;
    this.ip = ip;
  }

  receive(ifIndex: number, batch: PacketBatch): void {
    const { arena, lengths } = batch;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.start(i);
      const len = lengths[i];
      if (len < 14) {
        lengths[i] = 0;
        continue;
      }
      const type = read16(arena, off + 12);
      const peer = read48(arena, off + 6);
      const icmp = type === EtherType.Ipv4 ? echoRequestAt(arena, off + 14, len - 14, this.ip) : -1;
      if (
        type === EtherType.Arp &&
        len >= 42 &&
        arpOperation(arena, off + 14) === ArpOperation.Request &&
        arpTargetIp(arena, off + 14) === this.ip
      ) {
        arpRequestToReply(arena, off + 14, this.mac);
        this.arps++;
      } else if (icmp >= 0) {
        swapIpv4(arena, off + 14);
        icmpv4EchoToReply(arena, icmp);
        this.echoed++;
      } else {
        lengths[i] = 0;
        continue;
      }
      write48(arena, off, peer);
      write48(arena, off + 6, this.mac);
    }
    this.transmit(ifIndex, batch);
  }
}

/** A batch holding copies of `packets` (and holes where an entry is null). */
export function fillBatch(batch: PacketBatch, packets: (Uint8Array | null)[]): PacketBatch {
  batch.clear();
  for (const p of packets) {
    if (p === null) {
      batch.lengths[batch.count++] = 0;
      continue;
    }
    const i = batch.reserve(p.length);
    if (i < 0) throw new Error("batch full");
    batch.arena.set(p, batch.start(i));
  }
  return batch;
}

/** A packet whose first 4 bytes are `seq` (big-endian), then `size - 4` bytes of `seq & 255`. */
export function seqPacket(seq: number, size = 64): Uint8Array {
  const p = new Uint8Array(size).fill(seq & 255);
  new DataView(p.buffer).setUint32(0, seq);
  return p;
}

export function seqOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0);
}

/** Copies of the non-empty packets of a batch. */
export function packetsOf(batch: PacketBatch): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < batch.count; i++) {
    const len = batch.lengths[i];
    if (len === 0) continue;
    const s = batch.start(i);
    out.push(batch.arena.slice(s, s + len));
  }
  return out;
}

/**
 * Router `vr` (a ForwardRouter with n L2 interfaces) placed in `hv` and
 * bound to memory links n0.., each with its own arena; answers the links'
 * far ends.
 */
export function placeOnMemoryLinks(
  hv: Hypervisor,
  n: number,
): { far: MemoryLink[]; vr: ForwardRouter } {
  const far: MemoryLink[] = [];
  for (let i = 0; i < n; i++) {
    const [inside, outside] = memoryLinkPair({
      arena: new PacketArena(2 * 64 * 2048),
      names: [`n${i}`, `n${i}-far`],
      layer: "l2",
    });
    hv.addLink(inside);
    far.push(outside);
  }
  const vr = new ForwardRouter("vr", n, {}, "l2");
  hv.addRouter(vr);
  for (let i = 0; i < n; i++) hv.bind("vr", i, `n${i}`);
  return { far, vr };
}
