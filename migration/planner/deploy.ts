/**
 * Application 3 (paper, section 2): service deployment. A new service runs
 * on virtual routers in a trial network (hosts marked `role: trial`, or
 * named); once proven, the routers move onto the backbone in stages, and
 * every constraint holds at every step of every stage.
 *
 * Stages: given explicitly, or formed by walking the trial routers' own
 * virtual links breadth-first (starting from the router with the most links
 * to the backbone, neighbours by name) and cutting the walk into stages of
 * `stageSize`, so routers that talk to each other move together and the
 * traffic between the two networks stays low in between.
 *
 * Each stage is one relocation (`relocate.ts`): the stage's routers and
 * those of earlier stages may only use backbone hosts, routers of later
 * stages stay where they are, backbone routers may move to make room (each
 * such move counts) but never onto trial hosts; fewest migrations first,
 * then least added delay. The whole plan is then replayed from the start
 * and checked state by state. It holds at the peak by default: the service
 * stays on the backbone.
 */
import { computeCandidates } from "./candidates.ts";
import { resolveHosts, type TrafficWindow, windowScale } from "./maintenance.ts";
import type { Network } from "./network.ts";
import {
  checksJson,
  type MigrationJson,
  migrationsOf,
  type PlanBase,
  PlanRequestError,
  type PlanStatus,
  placementRecord,
  round,
  type StepJson,
  stepsToJson,
} from "./plan.ts";
import { addedLatency, relocate } from "./relocate.ts";
import { type PlanStep, verifySteps } from "./verify.ts";

export interface DeployOptions {
  /** Trial hosts; default: the hosts with `role: trial`. */
  trialHosts?: readonly string[];
  /** Explicit stages (router names); default: breadth-first stages of `stageSize`. */
  stages?: readonly (readonly string[])[];
  /** Routers per stage (default: a third of the trial routers, at least 1). */
  stageSize?: number;
  /** Default: the peak. */
  window?: TrafficWindow;
  /** Seconds for the whole plan (default 60). */
  timeLimit?: number;
  mipGap?: number;
}

export interface DeployStage {
  stage: number;
  routers: string[];
  status: PlanStatus;
  gap: number | null;
  migrations: MigrationJson[];
  addedLatencyMs: number;
  explanation: string[];
}

export interface DeployPlan extends PlanBase {
  kind: "deploy";
  trialHosts: string[];
  stages: DeployStage[];
  window: TrafficWindow;
  cost: {
    migrations: number;
    stagingMigrations: number;
    backboneMigrations: number;
    addedLatencyMs: number;
  };
}

/** Trial routers in breadth-first order over their own virtual links. */
export function deploymentOrder(net: Network, trial: ReadonlySet<number>): number[] {
  const routers = [...trial];
  const neighbours = new Map<number, number[]>();
  const outside = new Map<number, number>();
  for (const r of routers) {
    neighbours.set(r, []);
    outside.set(r, 0);
  }
  for (const l of net.vlinks) {
    if (l.b < 0) continue;
    const [a, b] = [l.a, l.b];
    if (trial.has(a) && trial.has(b)) {
      neighbours.get(a)!.push(b);
      neighbours.get(b)!.push(a);
    } else if (trial.has(a)) outside.set(a, outside.get(a)! + 1);
    else if (trial.has(b)) outside.set(b, outside.get(b)! + 1);
  }
  const byName = (x: number, y: number) => net.routers[x].name.localeCompare(net.routers[y].name);
  const seeds = [...routers].sort((x, y) => outside.get(y)! - outside.get(x)! || byName(x, y));
  const seen = new Set<number>();
  const order: number[] = [];
  for (const seed of seeds) {
    if (seen.has(seed)) continue;
    seen.add(seed);
    const queue = [seed];
    for (let i = 0; i < queue.length; i++) {
      const r = queue[i];
      order.push(r);
      for (const n of [...neighbours.get(r)!].sort(byName)) {
        if (seen.has(n)) continue;
        seen.add(n);
        queue.push(n);
      }
    }
  }
  return order;
}

export async function planDeploy(net: Network, options: DeployOptions = {}): Promise<DeployPlan> {
  const started = performance.now();
  const trialHosts =
    options.trialHosts !== undefined
      ? resolveHosts(net, options.trialHosts, "trial")
      : net.hosts.filter((h) => h.role === "trial").map((h) => h.index);
  if (trialHosts.length === 0)
    throw new PlanRequestError("trial: no trial hosts (mark hosts `role: trial` or name them)");
  const trialSet = new Set(trialHosts);
  const trialRouters = new Set(net.routers.filter((r) => trialSet.has(r.host)).map((r) => r.index));
  if (trialRouters.size === 0)
    throw new PlanRequestError("trial: no router runs on the trial hosts");
  if (trialSet.size === net.hosts.length)
    throw new PlanRequestError("trial: every host is a trial host");

  let stages: number[][];
  if (options.stages !== undefined) {
    stages = [];
    const listed = new Set<number>();
    options.stages.forEach((names, i) => {
      const stage: number[] = [];
      for (const name of names) {
        const r = net.routerIndex.get(name);
        if (r === undefined) throw new PlanRequestError(`stages[${i}]: unknown router "${name}"`);
        if (!trialRouters.has(r))
          throw new PlanRequestError(`stages[${i}]: router "${name}" is not on a trial host`);
        if (listed.has(r))
          throw new PlanRequestError(`stages[${i}]: router "${name}" is in two stages`);
        listed.add(r);
        stage.push(r);
      }
      if (stage.length > 0) stages.push(stage);
    });
    const rest = [...trialRouters].filter((r) => !listed.has(r));
    if (rest.length > 0) stages.push(rest);
  } else {
    const size = options.stageSize ?? Math.max(1, Math.ceil(trialRouters.size / 3));
    if (!Number.isInteger(size) || size < 1)
      throw new PlanRequestError("stageSize: a whole number ≥ 1");
    const order = deploymentOrder(net, trialRouters);
    stages = [];
    for (let i = 0; i < order.length; i += size) stages.push(order.slice(i, i + size));
  }

  const window = options.window ?? { startHour: "peak", hours: 1 };
  const scale = windowScale(net, window);
  const timeLimit = options.timeLimit ?? 60;
  const origin = Int32Array.from(net.routers.map((r) => r.host));
  let current: Int32Array = origin.slice();
  const moved = new Set<number>();
  const allSteps: PlanStep[] = [];
  const stepsJson: StepJson[] = [];
  const reports: DeployStage[] = [];
  let status: PlanStatus = "optimal";
  let gap = 0;
  let explanation: string[] = [];
  const notes: string[] = [];

  for (let k = 0; k < stages.length; k++) {
    for (const r of stages[k]) moved.add(r);
    const pinned = new Map<number, number>();
    for (const r of trialRouters) if (!moved.has(r)) pinned.set(r, current[r]);
    const candidates = computeCandidates(net, {
      pinned,
      allow: (r, h) => !trialSet.has(h) || (trialRouters.has(r) && !moved.has(r)),
    });
    const left = timeLimit - (performance.now() - started) / 1000;
    const result = await relocate(net, current, candidates, {
      scale,
      timeLimit: Math.max(0.1, left / (stages.length - k)),
      mipGap: options.mipGap ?? 1e-4,
    });
    const json = stepsToJson(net, result.steps, stepsJson.length + 1, { stage: k + 1 });
    reports.push({
      stage: k + 1,
      routers: stages[k].map((r) => net.routers[r].name),
      status: result.status,
      gap: result.gap === null ? null : round(result.gap, 6),
      migrations: migrationsOf(json),
      addedLatencyMs: round(result.addedLatencyMs, 4),
      explanation: result.explanation,
    });
    if (result.status === "infeasible" || result.target === null) {
      status = "infeasible";
      explanation = [
        `stage ${k + 1} (${stages[k].map((r) => net.routers[r].name).join(", ")}):`,
        ...result.explanation,
      ];
      break;
    }
    if (result.status === "feasible") status = "feasible";
    gap = Math.max(gap, result.gap ?? 0);
    for (const n of result.notes) notes.push(`stage ${k + 1}: ${n}`);
    allSteps.push(...result.steps);
    stepsJson.push(...json);
    current = result.target;
  }

  const verify = status === "infeasible" ? null : verifySteps(net, origin, allSteps, { scale });
  if (verify && !verify.ok) {
    status = "infeasible";
    explanation = ["the staged plan fails the independent check"];
  }
  const migrations = migrationsOf(stepsJson);
  const final = status === "infeasible" ? origin : current;
  return {
    kind: "deploy",
    network: net.name,
    status,
    solveSeconds: round((performance.now() - started) / 1000, 4),
    gap: status === "infeasible" ? null : round(gap, 6),
    trafficScale: round(scale, 6),
    trialHosts: trialHosts.map((h) => net.hosts[h].name),
    window,
    stages: reports,
    migrations,
    steps: stepsJson,
    cost: {
      migrations: migrations.filter((m) => !m.staging).length,
      stagingMigrations: migrations.filter((m) => m.staging).length,
      backboneMigrations: migrations.filter(
        (m) => !trialRouters.has(net.routerIndex.get(m.router)!),
      ).length,
      addedLatencyMs: round(addedLatency(net, final), 4),
    },
    checks: checksJson(verify, stepsJson),
    explanation,
    notes,
    initialPlacement: placementRecord(net, origin),
    finalPlacement: placementRecord(net, final),
  };
}
