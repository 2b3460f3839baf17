/**
 * The lab's measurements, from what the traffic and BIRD reported: packets
 * lost (pings and the stream together), the largest gap between
 * consecutive packets that got through, round-trip time statistics, and
 * whether a BGP session reset.
 *
 * A session counts as reset when BIRD does not show it Established at both
 * ends of the run, or when the time of its last state change ("since",
 * milliseconds, BIRD's own clock) moved: an Established session that went
 * down and came back shows a later "since" even if nobody saw it down.
 * BIRD keeps that time on its monotonic clock and turns it into wall time
 * each time it prints it, so the same "since" can come out a millisecond
 * apart: times within `SINCE_JITTER_MS` are the same time (a session that
 * resets takes far longer than that to come back).
 * Pure functions over plain data.
 */
import type { BirdProtocol } from "../peers/bird.ts";
import type { PingLog, StreamLog } from "./traffic.ts";

export interface RttStats {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PingSummary {
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  /** Longest time between two consecutive replies (ms). */
  maxGapMs: number;
  /** Longest run of consecutive echo requests without a reply. */
  longestLossRun: number;
  rtt: RttStats;
  /** Sequence numbers that got no reply (the first 1000). */
  lostSeqs: number[];
}

/** The value at quantile `q` of sorted `values` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function rttStats(rtts: readonly number[]): RttStats {
  const sorted = [...rtts].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    minMs: sorted[0] ?? 0,
    meanMs: sorted.length === 0 ? 0 : sum / sorted.length,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? 0,
  };
}

/** Pings: iputils numbers its requests from 1; every number up to `sent` without a reply is lost. */
export function summarizePings(log: PingLog): PingSummary {
  const seqs = new Set(log.samples.map((s) => s.seq));
  const highest = log.samples.reduce((m, s) => Math.max(m, s.seq), 0);
  const sent = log.transmitted ?? highest;
  const lostSeqs: number[] = [];
  let run = 0;
  let longest = 0;
  let lost = 0;
  for (let seq = 1; seq <= sent; seq++) {
    if (seqs.has(seq)) {
      run = 0;
      continue;
    }
    lost++;
    if (lostSeqs.length < 1000) lostSeqs.push(seq);
    run++;
    longest = Math.max(longest, run);
  }
  const times = log.samples.map((s) => s.atMs).sort((a, b) => a - b);
  let maxGap = 0;
  for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, times[i] - times[i - 1]);
  return {
    sent,
    received: sent - lost,
    lost,
    duplicates: log.duplicates,
    maxGapMs: maxGap,
    longestLossRun: longest,
    rtt: rttStats(log.samples.map((s) => s.rttMs)),
    lostSeqs,
  };
}

export interface StreamSummary {
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  reordered: number;
  rate: number;
  /** Longest time between two consecutive arrivals (ms, kernel receive stamps). */
  maxGapMs: number;
  /** Longest run of consecutive sequence numbers missing (trailing ones included). */
  longestLossRun: number;
  latencyMeanMs: number;
  latencyMaxMs: number;
}

export function summarizeStream(log: StreamLog): StreamSummary {
  const r = log.receipt;
  let longest = 0;
  for (const [a, b] of r.missing) longest = Math.max(longest, b - a + 1);
  longest = Math.max(longest, log.sent - 1 - r.maxSeq);
  return {
    sent: log.sent,
    received: r.received,
    lost: Math.max(0, log.sent - r.received),
    duplicates: r.duplicates,
    reordered: r.reordered,
    rate: log.rate,
    maxGapMs: r.maxGapMs,
    longestLossRun: longest,
    latencyMeanMs: r.latencyMeanMs,
    latencyMaxMs: r.latencyMaxMs,
  };
}

export interface SessionCheck {
  peer: string;
  before: { state: string; bgpState?: string; since: string };
  after: { state: string; bgpState?: string; since: string };
  reset: boolean;
}

/** Differences between two prints of one BIRD "since" that are rounding, not a change (ms). */
export const SINCE_JITTER_MS = 20;

/** Whether two BIRD "since" times (`YYYY-MM-DD HH:MM:SS.mmm`) are the same instant, give or take the jitter. */
export function sameSince(a: string, b: string): boolean {
  if (a === b) return true;
  const ms = (t: string) => Date.parse(`${t.trim().replace(" ", "T")}Z`);
  const x = ms(a);
  const y = ms(b);
  return Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) <= SINCE_JITTER_MS;
}

/** Compares BIRD's view of each session before and after; answers one check per peer. */
export function sessionChecks(
  before: Record<string, BirdProtocol>,
  after: Record<string, BirdProtocol>,
): SessionCheck[] {
  return Object.keys(before).map((peer) => {
    const b = before[peer];
    const a = after[peer];
    const view = (p: BirdProtocol | undefined) => ({
      state: p?.state ?? "missing",
      bgpState: p?.bgpState,
      since: p?.since ?? "",
    });
    const reset =
      a === undefined ||
      b.bgpState !== "Established" ||
      a.bgpState !== "Established" ||
      !sameSince(a.since, b.since);
    return { peer, before: view(b), after: view(a), reset };
  });
}

/** What one migration reported (null fields: the migrator did not say). */
export interface MigrationSummary {
  router: string;
  from: string;
  to: string;
  cpFreezeMs: number | null;
  totalMs: number | null;
  bytes: number | null;
}

/** A phase of the run and when it ran (epoch ms). */
export interface PhaseTiming {
  name: string;
  startMs: number;
  endMs: number;
}

/** Everything `vroom lab` reports. */
export interface LabResult {
  /** Whether VR1 was moved (false with --no-migrate). */
  migrated: boolean;
  /** Packets lost, pings and stream together. */
  lost: number;
  /** The largest gap (ms) between consecutive packets that got through, pings or stream. */
  maxGapMs: number;
  /** Control-plane freeze (ms, the longest of the migrations); null without migration. */
  cpFreezeMs: number | null;
  /** Total migration time (ms, the longest of the migrations); null without migration. */
  totalMs: number | null;
  /** Bytes moved by the migrations together; null without migration. */
  bytes: number | null;
  /** Sessions BIRD saw reset during the run. */
  bgpSessionResets: number;
  /** The figure (PNG) and its SVG. */
  figure: string;
  svg: string;
  seconds: number;
  convergeMs: number;
  pings: PingSummary;
  stream: StreamSummary;
  bgp: SessionCheck[];
  migrations: MigrationSummary[];
  phases: PhaseTiming[];
}

/** The headline figures of a run from its parts. */
export function combine(
  pings: PingSummary,
  stream: StreamSummary,
  bgp: SessionCheck[],
  migrations: MigrationSummary[] | null,
): Pick<
  LabResult,
  "migrated" | "lost" | "maxGapMs" | "cpFreezeMs" | "totalMs" | "bytes" | "bgpSessionResets"
> {
  const max = (xs: (number | null)[]) =>
    xs.some((x) => x === null) ? null : Math.max(...(xs as number[]));
  const sum = (xs: (number | null)[]) =>
    xs.some((x) => x === null) ? null : (xs as number[]).reduce((a, b) => a + b, 0);
  const moved = migrations !== null && migrations.length > 0;
  return {
    migrated: moved,
    lost: pings.lost + stream.lost,
    maxGapMs: Math.max(pings.maxGapMs, stream.maxGapMs),
    cpFreezeMs: moved ? max(migrations.map((m) => m.cpFreezeMs)) : null,
    totalMs: moved ? max(migrations.map((m) => m.totalMs)) : null,
    bytes: moved ? sum(migrations.map((m) => m.bytes)) : null,
    bgpSessionResets: bgp.filter((s) => s.reset).length,
  };
}
