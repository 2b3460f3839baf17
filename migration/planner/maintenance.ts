/**
 * Application 1 (paper, section 2): planned maintenance. Evacuate one or
 * more hosts before work on them: every router they carry moves elsewhere,
 * with the fewest migrations and then the least added delay, every
 * constraint holding in every state on the way and after.
 *
 * The plan holds at the traffic of a maintenance window: by default the
 * quietest two hours of the diurnal profile (where operators schedule such
 * work), or any window asked for, or the peak. The routers may stay on
 * their new hosts only if that placement also holds at the peak; the plan
 * says whether it does (`holdsAtPeak`).
 */
import { computeCandidates } from "./candidates.ts";
import { checkState } from "./checker.ts";
import type { Network } from "./network.ts";
import {
  checksJson,
  migrationsOf,
  type PlanBase,
  PlanRequestError,
  placementRecord,
  round,
  stepsToJson,
} from "./plan.ts";
import { relocate } from "./relocate.ts";
import type { DiurnalSpec } from "./schema.ts";
import { slotTraffic } from "./traffic.ts";

export interface TrafficWindow {
  /** Start hour, or "peak" for the busiest instant of the day. */
  startHour: number | "peak";
  hours: number;
}

export interface MaintenanceOptions {
  evacuate: readonly string[];
  /** Default: the quietest two hours. */
  window?: TrafficWindow;
  /** Seconds (default 30). */
  timeLimit?: number;
  /** Relative MIP gap (default 1e-4). */
  mipGap?: number;
}

export interface MaintenancePlan extends PlanBase {
  kind: "maintenance";
  evacuated: string[];
  window: { startHour: number | "peak"; hours: number };
  cost: { migrations: number; stagingMigrations: number; addedLatencyMs: number };
  holdsAtPeak: boolean;
}

/** The start hour of the quietest window of `hours` hours (whole hours). */
export function quietestWindow(profile: DiurnalSpec, hours: number): number {
  let best = 0;
  let bestPeak = Number.POSITIVE_INFINITY;
  for (let h = 0; h < 24; h++) {
    const s = slotTraffic(profile, h, hours);
    if (s.peakScale < bestPeak - 1e-12) {
      best = h;
      bestPeak = s.peakScale;
    }
  }
  return best;
}

/** The traffic multiplier a window must hold at. */
export function windowScale(net: Network, window: TrafficWindow): number {
  if (window.startHour === "peak") return 1;
  return slotTraffic(net.diurnal, window.startHour, window.hours).peakScale;
}

export function resolveHosts(net: Network, names: readonly string[], what: string): number[] {
  const out: number[] = [];
  for (const name of names) {
    const h = net.hostIndex.get(name);
    if (h === undefined) throw new PlanRequestError(`${what}: unknown host "${name}"`);
    if (!out.includes(h)) out.push(h);
  }
  return out;
}

export async function planMaintenance(
  net: Network,
  options: MaintenanceOptions,
): Promise<MaintenancePlan> {
  const started = performance.now();
  if (options.evacuate.length === 0) throw new PlanRequestError("evacuate: name at least one host");
  const evacuated = resolveHosts(net, options.evacuate, "evacuate");
  const window = options.window ?? { startHour: quietestWindow(net.diurnal, 2), hours: 2 };
  if (window.hours <= 0 || window.hours > 24)
    throw new PlanRequestError("window: hours must be in (0, 24]");
  const scale = windowScale(net, window);
  const origin = Int32Array.from(net.routers.map((r) => r.host));
  const candidates = computeCandidates(net, { excluded: new Set(evacuated) });
  const result = await relocate(net, origin, candidates, {
    scale,
    timeLimit: options.timeLimit ?? 30,
    mipGap: options.mipGap ?? 1e-4,
  });
  const steps = stepsToJson(net, result.steps, 1);
  const final = result.target ?? origin;
  const holdsAtPeak = result.target !== null && checkState(net, { placement: final, scale: 1 }).ok;
  return {
    kind: "maintenance",
    network: net.name,
    status: result.status,
    solveSeconds: round((performance.now() - started) / 1000, 4),
    gap: result.gap === null ? null : round(result.gap, 6),
    trafficScale: round(scale, 6),
    evacuated: evacuated.map((h) => net.hosts[h].name),
    window,
    migrations: migrationsOf(steps),
    steps,
    cost: {
      migrations: result.migrations,
      stagingMigrations: result.steps.filter((s) => s.kind === "migrate" && s.staging).length,
      addedLatencyMs: round(result.addedLatencyMs, 4),
    },
    holdsAtPeak,
    checks: checksJson(result.verify, steps),
    explanation: result.explanation,
    notes: result.notes,
    initialPlacement: placementRecord(net, origin),
    finalPlacement: placementRecord(net, final),
  };
}
