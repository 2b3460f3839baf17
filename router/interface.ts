/**
 * A router interface at run time: its configuration, its addresses in the
 * forms the packet path compares against, its neighbour caches (L2), its
 * output batch and its counters. IPv6 interfaces on L2 links get an EUI-64
 * link-local address (RFC 4291 section 2.5.6, appendix A) for neighbour
 * discovery.
 */
import type { PacketBatch } from "./batch.ts";
import type { InterfaceConfig } from "./config.ts";
import { InterfaceCounters } from "./counters.ts";
import { NeighborCache } from "./neighbors.ts";
import type { InterfaceLayer, PortInterface } from "./port.ts";

export class RouterInterface implements PortInterface {
  readonly index: number;
  readonly name: string;
  readonly layer: InterfaceLayer;
  readonly mtu: number;
  readonly mac: number;
  /** IPv4 addresses and their prefix lengths. */
  readonly ipv4: { address: number; length: number }[];
  readonly ipv6: { address: Uint32Array; length: number }[];
  /** fe80::/64 address (L2 interfaces), or undefined. */
  readonly linkLocal: Uint32Array | undefined;
  readonly arp = new NeighborCache(1);
  readonly nd = new NeighborCache(4);
  readonly counters = new InterfaceCounters();
  /** Packets waiting to leave through this interface. */
  readonly tx: PacketBatch;

  constructor(index: number, config: InterfaceConfig, tx: PacketBatch) {
    this.index = index;
    this.name = config.name;
    this.layer = config.layer;
    this.mtu = config.mtu;
    this.mac = config.mac;
    this.ipv4 = config.ipv4;
    this.ipv6 = config.ipv6;
    this.linkLocal = config.layer === "l2" ? linkLocalOf(config.mac) : undefined;
    this.tx = tx;
  }

  /** The interface's first IPv4 address, or undefined. */
  get primary4(): number | undefined {
    return this.ipv4[0]?.address;
  }

  /** Whether `addr` is one of this interface's IPv4 addresses. */
  owns4(addr: number): boolean {
    for (const a of this.ipv4) if (a.address === addr) return true;
    return false;
  }

  /** Whether the four words at `words[off]` are one of this interface's IPv6 addresses (link-local included). */
  owns6(words: ArrayLike<number>, off = 0): boolean {
    if (this.linkLocal && equal6(this.linkLocal, words, off)) return true;
    for (const a of this.ipv6) if (equal6(a.address, words, off)) return true;
    return false;
  }
}

export function equal6(a: ArrayLike<number>, b: ArrayLike<number>, off = 0): boolean {
  return a[0] === b[off] && a[1] === b[off + 1] && a[2] === b[off + 2] && a[3] === b[off + 3];
}

/** fe80::/64 with the modified EUI-64 interface identifier of `mac`. */
export function linkLocalOf(mac: number): Uint32Array {
  const hi = Math.floor(mac / 0x1000000);
  const lo = mac % 0x1000000;
  const flipped = hi ^ 0x020000;
  return Uint32Array.of(0xfe800000, 0, ((flipped << 8) | 0xff) >>> 0, (0xfe000000 | lo) >>> 0);
}
