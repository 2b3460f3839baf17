/**
 * What a replay reports: the verdicts (what the router forwarded out of
 * each interface, what it originated, what it dropped and why, taken from
 * the router's own counters), the packets the replay could not hand to it
 * and why, neighbours that never answered, where reading stopped early, and
 * the rates. `formatSummary` prints it for people; `--json` prints the
 * object itself.
 */
import type { CaptureError } from "./capture.ts";
import { formatCaptureError } from "./capture.ts";

/** Why the replay did not hand a captured packet to the router. */
export const SkipReason = {
  /** The capture kept only part of the packet (snap length). */
  Snapped: 0,
  /** Larger than a packet slot (a segmentation-offload super-packet). */
  Oversize: 1,
  /** Not IPv4 or IPv6, for an L3 interface. */
  NotIp: 2,
  /** A link type the replay does not read. */
  UnsupportedLinkType: 3,
  /** Too short for its link-layer header. */
  Runt: 4,
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export const SKIP_REASON_NAMES: readonly string[] = [
  "snapped",
  "oversize",
  "not-ip",
  "unsupported-link-type",
  "runt",
];

export interface InterfaceSummary {
  layer: "l2" | "l3";
  /** Captured packets handed to the router on this interface. */
  received: number;
  /** Packets the router sent out of this interface (= forwarded + generated). */
  sent: number;
  /** Sent packets that came from elsewhere (fragments counted one each). */
  forwarded: number;
  /** Sent packets the router originated: ICMP errors, echo replies, ARP, neighbour discovery. */
  generated: number;
  /** Of `generated`: ICMP and ICMPv6 error messages. */
  icmpErrors: number;
  /** Of `generated`: ARP requests and neighbour solicitations. */
  solicitations: number;
  /** ICMP errors the router's rate limit withheld, for traffic that came in here. */
  icmpSuppressed: number;
  /** The router's drop counters of this interface, by reason. */
  drops: Record<string, number>;
  /** The pcap file of what left the interface (absent when outputs were not written). */
  file?: string;
}

export interface CaptureInterfaceSummary {
  index: number;
  name?: string;
  linkType: number;
  /** The router interface its packets entered, or null when none could. */
  routerInterface: string | null;
}

export interface ReplaySummary {
  router: string;
  capture: {
    file: string;
    format: "pcap" | "pcapng";
    bytes: number;
    interfaces: CaptureInterfaceSummary[];
  };
  /** Packets read from the capture. */
  packets: number;
  /** Packets handed to the router. */
  injected: number;
  /** Packets not handed to the router, and why. */
  skipped: number;
  skipReasons: Record<string, number>;
  /** Packets the router forwarded, over all interfaces. */
  forwarded: number;
  /** Packets the router originated, over all interfaces. */
  generated: number;
  icmpErrors: number;
  icmpSuppressed: number;
  /** Packets the router dropped, over all interfaces, and by reason. */
  dropped: number;
  dropReasons: Record<string, number>;
  interfaces: Record<string, InterfaceSummary>;
  /** Next hops the router asked for and never resolved ("interface address"). */
  unresolvedNeighbors: string[];
  /** Where reading stopped on a truncated or malformed capture (every packet before it was replayed). */
  error?: CaptureError;
  warnings: string[];
  /** Wall time of the whole replay (reading, forwarding, writing), seconds. */
  seconds: number;
  packetsPerSec: number;
  /** Time in the forwarding step alone (packets into batches, the router, records out; no file I/O). */
  forwardSeconds: number;
  forwardPacketsPerSec: number;
}

function list(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

function rate(pps: number): string {
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(2)} M packets/s`;
  if (pps >= 1e3) return `${(pps / 1e3).toFixed(1)} k packets/s`;
  return `${pps.toFixed(0)} packets/s`;
}

/** The summary as lines of text for a terminal. */
export function formatSummary(s: ReplaySummary): string {
  const lines: string[] = [];
  const skipped = s.skipped > 0 ? ` (${s.skipped} skipped: ${list(s.skipReasons)})` : "";
  lines.push(
    `replayed ${s.capture.file} (${s.capture.format}) through router ${s.router}: ` +
      `${s.packets} packets, ${s.injected} injected${skipped}`,
  );
  const names = Object.keys(s.interfaces);
  const fwd = Object.fromEntries(names.map((n) => [n, s.interfaces[n].forwarded]));
  lines.push(`forwarded ${s.forwarded}: ${list(fwd)}`);
  lines.push(
    `generated ${s.generated}: ${s.icmpErrors} ICMP errors` +
      (s.icmpSuppressed > 0 ? ` (${s.icmpSuppressed} more rate-limited)` : "") +
      `, ${names.reduce((n, k) => n + s.interfaces[k].solicitations, 0)} neighbour solicitations`,
  );
  lines.push(`dropped ${s.dropped}: ${list(s.dropReasons)}`);
  if (s.unresolvedNeighbors.length > 0) {
    lines.push(`unresolved neighbours: ${s.unresolvedNeighbors.join(", ")}`);
  }
  for (const name of names) {
    const i = s.interfaces[name];
    lines.push(
      `  ${name} (${i.layer}): in ${i.received}, out ${i.sent} (forwarded ${i.forwarded}, ` +
        `generated ${i.generated})` +
        (Object.keys(i.drops).length > 0 ? `, drops: ${list(i.drops)}` : "") +
        (i.file ? ` -> ${i.file}` : ""),
    );
  }
  lines.push(
    `rate: ${rate(s.packetsPerSec)} end to end (${s.seconds.toFixed(3)} s), ` +
      `forwarding alone ${rate(s.forwardPacketsPerSec)} (${s.forwardSeconds.toFixed(3)} s)`,
  );
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  if (s.error) lines.push(`error: ${formatCaptureError(s.error, s.capture.file)}`);
  return lines.join("\n");
}
