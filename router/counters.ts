/**
 * Named counters of a router's packet path, per interface (Click/VPP style):
 * packets and bytes in and out, and drops by reason. Plain numbers in typed
 * arrays, so the fast path only increments and migration copies them as data.
 */

/** Why a packet was dropped. Values index `InterfaceCounters.drops`. */
export const DropReason = {
  /** Frame or packet too short, bad version, bad header or total length. */
  Malformed: 0,
  /** IPv4 header checksum wrong. */
  BadChecksum: 1,
  /** Frame addressed to another station, or an ethertype the router does not speak. */
  NotForUs: 2,
  /** No route to the destination. */
  NoRoute: 3,
  /** TTL or hop limit ran out. */
  TtlExpired: 4,
  /** Larger than the output MTU and not fragmentable (DF set, or IPv6). */
  TooBig: 5,
  /** The next hop's link-layer address could not be resolved. */
  NeighborUnresolved: 6,
  /** The output batch was full. */
  TxFull: 7,
  /** Martian source or destination (multicast or broadcast source, loopback, unspecified). */
  Martian: 8,
  /** Addressed to the router but for a protocol it does not serve. */
  LocalUnhandled: 9,
  /** A route to reject or blackhole. */
  Prohibited: 10,
  /** Multicast the router does not listen to, or forwarding of link-scope traffic. */
  Scope: 11,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export const DROP_REASON_NAMES: readonly string[] = Object.keys(DropReason).map((name) =>
  name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `-${c.toLowerCase()}`)),
);

const REASONS = Object.keys(DropReason).length;

export class InterfaceCounters {
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  /** ICMP errors this interface's traffic caused that the rate limit suppressed. */
  icmpSuppressed = 0;
  readonly drops = new Float64Array(REASONS);

  drop(reason: DropReason): void {
    this.drops[reason]++;
  }

  /** Plain data: drops keyed by reason name (only non-zero ones). */
  toJSON(): Record<string, unknown> {
    const drops: Record<string, number> = {};
    this.drops.forEach((n, i) => {
      if (n > 0) drops[DROP_REASON_NAMES[i]] = n;
    });
    return {
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      icmpSuppressed: this.icmpSuppressed,
      drops,
    };
  }
}
