/**
 * Application 2 (paper, section 2): power savings. Over a day of traffic
 * following the diurnal profile, choose per time slot which hosts (and
 * links) to power down and where the routers go, minimising energy under
 * every constraint and a migration budget per slot, and report the energy
 * saved against keeping every host powered all day with today's placement.
 * The paper estimates 18-25% for a Tier-1 backbone.
 *
 * Power model (per host and per link, idle and busy): a powered host draws
 * idleW plus (busyW − idleW) times its load (forwarded traffic over its
 * throughput capacity, or CPU share when it has no throughput limit); a
 * powered link draws idleW plus (busyW − idleW) times its mean utilisation
 * over both directions. A host may sleep when it holds no router; a link
 * when no traffic crosses it (the substrate's routing does not change).
 * Slots are checked at their highest traffic and charged at their mean.
 *
 * Solving. `joint`: the exact day problem, used when it is small enough
 * (`auto`). When the routers fall into small independent clusters, it is
 * solved by dynamic programming (`power-dp.ts`, optimal by a certificate);
 * otherwise by one MIP over all slots (placements linked by the budget). `rolling`:
 * one MIP per slot in time order, from the previous slot's placement, whose
 * capacities must also hold at the traffic of the next `lookahead` slots so
 * that a consolidated night can be undone within the budget as traffic
 * rises. Its gap is measured against a lower bound on the day: the sum over
 * slots of HiGHS's proved bound on each slot's energy with no budget and no
 * past (any plan's slot energy is at least that).
 *
 * Between slots: hosts the next slot needs are powered on, the migrations
 * run in an order that keeps every state valid (at the lower of the two
 * slots' traffic: the transition runs at the slot boundary, before a rise or
 * after a fall), then emptied hosts are powered down. Every transition is
 * verified from scratch, and every slot's placement at its peak traffic.
 *
 * Migrations cost 1 mWh each in the objective, only to break ties between
 * plans of equal energy in favour of fewer moves.
 */
import { slotEnergyLowerBound } from "./bounds.ts";
import { type Candidates, computeCandidates, withoutMoves } from "./candidates.ts";
import { checkState, computeLoads } from "./checker.ts";
import { consolidateSlot } from "./consolidate.ts";
import { decodeSolution, encodeStart, type PeriodPlacement } from "./decode.ts";
import { explainEmptyCandidates, explainInfeasible } from "./explain.ts";
import { buildModel, type PeriodSpec, type PlacementProblem } from "./model.ts";
import type { Network } from "./network.ts";
import { type BlockedMigration, orderMigrations } from "./order.ts";
import {
  type ChecksJson,
  migrationsOf,
  type PlanBase,
  PlanRequestError,
  type PlanStatus,
  placementRecord,
  round,
  type StepJson,
  stepsToJson,
} from "./plan.ts";
import { solveDayByClusters } from "./power-dp.ts";
import { solveModel } from "./solver.ts";
import { type SlotTraffic, slotTraffic } from "./traffic.ts";
import { type PlanStep, verifySteps } from "./verify.ts";

export interface PowerOptions {
  /** Number of slots (default 24). */
  slots?: number;
  /** Hours per slot (default 1). */
  slotHours?: number;
  /** Hour the first slot starts (default: the profile's peak hour, when everything is on anyway). */
  startHour?: number;
  /** Migrations allowed into each slot (default: a fifth of the routers, at least 1). */
  migrationBudget?: number;
  /** Seconds for the whole plan (default 60). */
  timeLimit?: number;
  mipGap?: number;
  mode?: "auto" | "joint" | "rolling";
  /** Rolling mode: slots ahead whose traffic each placement must also hold (default 2). */
  lookahead?: number;
  /**
   * Joint mode: first try the exact dynamic program over independent
   * clusters of routers (`power-dp.ts`), HiGHS only when it does not apply
   * (default true; false always asks HiGHS, to compare the two).
   */
  clusters?: boolean;
}

export interface PowerSlot {
  slot: number;
  startHour: number;
  hours: number;
  peakScale: number;
  meanScale: number;
  hostsOn: number;
  hostsOff: string[];
  linksOn: number;
  /** Mean power over the slot, plan and baseline (W). */
  powerW: number;
  baselineW: number;
  migrations: number;
  stagingMigrations: number;
}

export interface PowerPlan extends PlanBase {
  kind: "power";
  mode: "joint" | "rolling";
  migrationBudget: number;
  slots: PowerSlot[];
  energyWh: number;
  baselineWh: number;
  energySavedFraction: number;
  /** Proved lower bound on the day's energy (Wh). */
  energyBoundWh: number;
  placements: Record<string, string>[];
}

/** Objective weight of one migration, in Wh (a tie-breaker). */
const MIGRATION_WH = 1e-3;
/** Largest joint model (binary columns) `auto` hands to HiGHS in one piece. */
const JOINT_LIMIT = 8000;

export interface PowerBreakdown {
  hostsW: number;
  linksW: number;
  totalW: number;
  linksOn: number;
}

/**
 * Mean power of a state: powered hosts and links, idle plus load-proportional
 * part. Loads are linear in the traffic multiplier, so they are computed at
 * the peak once and scaled; a link is powered when any traffic crosses it.
 */
export function statePower(
  net: Network,
  placement: Int32Array,
  hostsOn: Uint8Array,
  meanScale: number,
): PowerBreakdown {
  const loads = computeLoads(net, { placement, scale: 1 });
  let hostsW = 0;
  for (const host of net.hosts) {
    if (!hostsOn[host.index]) continue;
    const share = Number.isFinite(host.throughputMbps)
      ? (loads.hostTraffic[host.index] * meanScale) / host.throughputMbps
      : loads.hostCpu[host.index] / host.cpu;
    hostsW += host.idleW + (host.busyW - host.idleW) * share;
  }
  let linksW = 0;
  let linksOn = 0;
  for (const link of net.links) {
    const ab = loads.arcLoad[2 * link.index];
    const ba = loads.arcLoad[2 * link.index + 1];
    if (ab <= 0 && ba <= 0) continue;
    linksOn++;
    linksW +=
      link.idleW + ((link.busyW - link.idleW) * (ab + ba) * meanScale) / (2 * link.capacityMbps);
  }
  return { hostsW, linksW, totalW: hostsW + linksW, linksOn };
}

interface SlotPlan {
  placement: Int32Array;
  hostsOn: Uint8Array;
}

/** One transition between slots, ordered: power-ons, migrations, power-offs. */
interface Transition {
  steps: PlanStep[];
  /** Traffic multiplier it runs at. */
  scale: number;
  migrations: number;
  staging: number;
}

type TransitionResult =
  | { ok: true; transition: Transition }
  | { ok: false; blocked: BlockedMigration[] };

/** Orders the move from one slot's plan to the next at the lower of their traffic levels. */
function orderTransition(
  net: Network,
  candidates: Candidates,
  prev: SlotPlan,
  cur: SlotPlan,
  scale: number,
): TransitionResult {
  const union = new Uint8Array(net.hosts.length);
  for (let h = 0; h < union.length; h++) union[h] = prev.hostsOn[h] | cur.hostsOn[h];
  const order = orderMigrations(net, prev.placement, cur.placement, {
    scale,
    hostsOn: union,
    stagingHosts: (r) => candidates.hosts[r],
  });
  if (!order.ok) return { ok: false, blocked: order.blocked };
  const steps: PlanStep[] = [];
  for (let h = 0; h < union.length; h++)
    if (cur.hostsOn[h] && !prev.hostsOn[h]) steps.push({ kind: "power-on", host: h });
  for (const m of order.migrations) steps.push({ kind: "migrate", ...m });
  for (let h = 0; h < union.length; h++)
    if (prev.hostsOn[h] && !cur.hostsOn[h]) steps.push({ kind: "power-off", host: h });
  return {
    ok: true,
    transition: {
      steps,
      scale,
      migrations: order.migrations.filter((m) => !m.staging).length,
      staging: order.migrations.filter((m) => m.staging).length,
    },
  };
}

function blockedText(net: Network, what: string, blocked: readonly BlockedMigration[]): string[] {
  return [
    `${what}: no order reaches the placement without breaking a constraint on the way; blocked:`,
    ...blocked.map(
      (b) =>
        `  router ${net.routers[b.router].name} ${net.hosts[b.from].name} → ${net.hosts[b.to].name}: ${b.violations.map((v) => v.message).join("; ")}`,
    ),
  ];
}

/** Rounds of "solve the slot, order it, set aside the moves with no safe order". */
const MAX_ROUNDS = 4;

export async function planPower(net: Network, options: PowerOptions = {}): Promise<PowerPlan> {
  const started = performance.now();
  const slots = options.slots ?? 24;
  const slotHours = options.slotHours ?? 1;
  if (!Number.isInteger(slots) || slots < 1 || slots > 24 * 14)
    throw new PlanRequestError("slots: a whole number from 1 to 336");
  if (!(slotHours > 0 && slotHours <= 24)) throw new PlanRequestError("slotHours: in (0, 24]");
  const startHour = options.startHour ?? peakHour(net);
  const budget = options.migrationBudget ?? Math.max(1, Math.ceil(net.routers.length / 5));
  if (!Number.isInteger(budget) || budget < 0)
    throw new PlanRequestError("migrationBudget: a whole number ≥ 0");
  const lookahead = options.lookahead ?? 2;
  if (!Number.isInteger(lookahead) || lookahead < 0)
    throw new PlanRequestError("lookahead: a whole number ≥ 0");
  const timeLimit = options.timeLimit ?? 60;
  const mipGap = options.mipGap ?? 1e-4;
  const deadline = started + timeLimit * 1000;
  const remaining = () => Math.max(0.05, (deadline - performance.now()) / 1000);

  const traffic: SlotTraffic[] = [];
  for (let t = 0; t < slots; t++)
    traffic.push(slotTraffic(net.diurnal, startHour + t * slotHours, slotHours));
  const periods: PeriodSpec[] = traffic.map((s) => ({
    scale: s.peakScale,
    meanScale: s.meanScale,
    hours: s.hours,
  }));
  const origin = Int32Array.from(net.routers.map((r) => r.host));
  const allOn = new Uint8Array(net.hosts.length).fill(1);
  const candidates = computeCandidates(net);
  const baseline = traffic.map((s) => statePower(net, origin, allOn, s.meanScale).totalW);
  const baselineWh = baseline.reduce((sum, w, t) => sum + w * traffic[t].hours, 0);
  const slotName = (t: number) => `slot ${t} (${hourText(traffic[t].startHour)})`;
  /** The transition into slot t runs at the lower traffic of slots t-1 and t. */
  const transitionScale = (t: number) =>
    Math.min(periods[Math.max(0, t - 1)].scale, periods[t].scale);

  const base = {
    kind: "power" as const,
    network: net.name,
    migrationBudget: budget,
    trafficScale: round(Math.min(...periods.map((p) => p.scale)), 6),
    initialPlacement: placementRecord(net, origin),
  };
  const fail = (explanation: string[], mode: "joint" | "rolling"): PowerPlan => ({
    ...base,
    mode,
    status: "infeasible",
    solveSeconds: round((performance.now() - started) / 1000, 4),
    gap: null,
    migrations: [],
    steps: [],
    checks: {
      passed: false,
      statesChecked: 0,
      maxLinkUtilisation: 0,
      maxHostUtilisation: 0,
      failures: [],
    },
    explanation,
    notes: [],
    finalPlacement: placementRecord(net, origin),
    slots: [],
    energyWh: 0,
    baselineWh: round(baselineWh, 3),
    energySavedFraction: 0,
    energyBoundWh: 0,
    placements: [],
  });

  // Today's placement must hold at every slot's traffic (it is the fallback of every slot).
  const today = checkState(net, {
    placement: origin,
    scale: Math.max(...periods.map((p) => p.scale)),
  });
  if (!today.ok)
    return fail(
      [
        "the network already breaks its constraints before any move, at the day's highest traffic:",
        ...today.violations.map((v) => `  ${v.message}`),
      ],
      "joint",
    );
  if (candidates.empty.length > 0) return fail(explainEmptyCandidates(net, candidates), "joint");

  const problem: PlacementProblem = {
    net,
    candidates,
    origin,
    periods,
    power: true,
    migrationBudget: budget,
    weights: { migrations: MIGRATION_WH, latency: 0, energy: 1 },
  };
  const binaries =
    candidates.hosts.reduce((n, h) => n + h.length, 0) * slots + net.hosts.length * slots;
  let mode: "joint" | "rolling" =
    options.mode === "joint" || (options.mode !== "rolling" && binaries <= JOINT_LIMIT)
      ? "joint"
      : "rolling";

  let plans: SlotPlan[] | null = null;
  let transitions: Transition[] | null = null;
  let status: PlanStatus = "feasible";
  let gap: number | null = null;
  let boundWh = 0;
  const notes: string[] = [];
  /** Orders the migrations into every slot; null (with notes) when some transition cannot run safely. */
  const orderDay = (
    candidatePlans: SlotPlan[],
    label: string,
    blocked: string[],
  ): Transition[] | null => {
    const ordered: Transition[] = [];
    let prev: SlotPlan = { placement: origin, hostsOn: allOn };
    for (let t = 0; t < slots && ordered.length === t; t++) {
      const result = orderTransition(net, candidates, prev, candidatePlans[t], transitionScale(t));
      if (result.ok) ordered.push(result.transition);
      else blocked.push(...blockedText(net, `${label}, ${slotName(t)}`, result.blocked));
      prev = candidatePlans[t];
    }
    return ordered.length === slots ? ordered : null;
  };
  if (mode === "joint" && options.clusters !== false) {
    // Small independent clusters: the day solved exactly by dynamic programming.
    const exact = solveDayByClusters({
      net,
      candidates,
      origin,
      periods,
      budget,
      migrationWh: MIGRATION_WH,
    });
    if (exact.ok) {
      const candidatePlans = exact.placements.map((placement) => ({
        placement,
        hostsOn: occupied(net, placement),
      }));
      const ordered = orderDay(candidatePlans, "exact plan", []);
      if (ordered !== null) {
        plans = candidatePlans;
        transitions = ordered;
        status = "optimal";
        gap = 0;
        let moves = 0;
        exact.placements.forEach((p, t) => {
          const before = t === 0 ? origin : exact.placements[t - 1];
          for (let r = 0; r < p.length; r++) if (p[r] !== before[r]) moves++;
        });
        boundWh = exact.objective - MIGRATION_WH * moves;
        notes.push(
          `solved exactly over ${exact.clusters} independent clusters of routers (largest: ${exact.largest} placements)`,
        );
      }
    }
  }
  if (mode === "joint" && plans === null) {
    const built = buildModel(problem);
    // The cheapest greedy day over a few look-aheads is the solver's start.
    let start: Float64Array | null = encodeStart(
      built,
      problem,
      periods.map(() => origin),
    );
    let startEnergy = Number.POSITIVE_INFINITY;
    for (const ahead of new Set([0, 1, lookahead])) {
      const greedy = greedyDay(net, problem, ahead, budget);
      if (greedy === null) continue;
      const energy = greedy.reduce(
        (sum, p, t) =>
          sum +
          statePower(net, p, occupied(net, p), periods[t].meanScale).totalW * periods[t].hours,
        0,
      );
      if (energy < startEnergy) {
        const encoded = encodeStart(built, problem, greedy);
        if (encoded) {
          start = encoded;
          startEnergy = energy;
        }
      }
    }
    const outcome = await solveModel(built.data, {
      timeLimit: options.mode === "joint" ? remaining() : remaining() * 0.5,
      mipGap,
      start: start ?? undefined,
    });
    if (outcome.status === "infeasible")
      return fail(
        await explainInfeasible(problem, { timeLimit: remaining(), periodName: slotName }),
        "joint",
      );
    if (outcome.colValue !== null) {
      const decoded = decodeSolution(built, problem, outcome.colValue);
      if (!decoded.ok) return fail([decoded.error], "joint");
      const candidatePlans = decoded.periods.map(hostsWithRouters(net));
      const ordered = orderDay(candidatePlans, "joint plan", notes);
      if (ordered !== null) {
        plans = candidatePlans;
        transitions = ordered;
        status = outcome.status === "optimal" ? "optimal" : "feasible";
        gap = outcome.gap;
        // The bound covers energy plus the migrations' tie-breaking cost, at most budget × slots of them.
        boundWh = outcome.bound - MIGRATION_WH * budget * slots;
      } else if (options.mode === "joint") return fail(notes, "joint");
      else {
        notes.push("the joint plan was replaced by a slot-by-slot plan");
        mode = "rolling";
      }
    } else if (options.mode === "joint")
      return fail(["no plan found within the time limit (not proved impossible)"], "joint");
    else mode = "rolling";
  }
  if (mode === "rolling") {
    const rolled = await rollingPlan(
      net,
      problem,
      lookahead,
      remaining,
      mipGap,
      slotName,
      transitionScale,
    );
    if (!rolled.ok) return fail(rolled.explanation, "rolling");
    plans = rolled.plans;
    transitions = rolled.transitions;
    boundWh = rolled.boundWh;
    notes.push(...rolled.notes);
    status = "feasible";
  }
  if (plans === null || transitions === null) return fail(["no plan"], mode);

  // Verify every transition and slot from scratch; account energy.
  const steps: StepJson[] = [];
  const slotReports: PowerSlot[] = [];
  const failures: string[] = [];
  let statesChecked = 0;
  let maxLink = 0;
  let maxHost = 0;
  let energyWh = 0;
  let prev: SlotPlan = { placement: origin, hostsOn: allOn };
  for (let t = 0; t < slots; t++) {
    const cur = plans[t];
    const transition = transitions[t];
    const verify = verifySteps(net, prev.placement, transition.steps, {
      scale: transition.scale,
      hostsOn: prev.hostsOn,
      checkInitial: false,
    });
    const steady = checkState(net, {
      placement: cur.placement,
      scale: periods[t].scale,
      hostsOn: cur.hostsOn,
    });
    statesChecked += verify.statesChecked + 1;
    maxLink = Math.max(maxLink, verify.maxLinkUtilisation, steady.maxLinkUtilisation);
    maxHost = Math.max(maxHost, verify.maxHostUtilisation, steady.maxHostUtilisation);
    const json = stepsToJson(net, transition.steps, steps.length + 1, { slot: t });
    for (const f of verify.failures)
      failures.push(
        `${slotName(t)} step ${json[f.step]?.step ?? "?"} ${f.phase}: ${f.violation.message}`,
      );
    for (const v of steady.violations)
      failures.push(`${slotName(t)} at its peak traffic: ${v.message}`);
    if (!samePlacement(verify.placement, cur.placement))
      failures.push(`${slotName(t)}: the transition does not end at the slot's placement`);
    const moves = transition.migrations + transition.staging;
    if (moves > budget)
      failures.push(
        `${slotName(t)}: ${moves} migrations (with parks) exceed the budget of ${budget}`,
      );
    steps.push(...json);
    const power = statePower(net, cur.placement, cur.hostsOn, traffic[t].meanScale);
    energyWh += power.totalW * traffic[t].hours;
    slotReports.push({
      slot: t,
      startHour: round(traffic[t].startHour % 24, 4),
      hours: traffic[t].hours,
      peakScale: round(traffic[t].peakScale, 4),
      meanScale: round(traffic[t].meanScale, 4),
      hostsOn: cur.hostsOn.reduce((n, x) => n + x, 0),
      hostsOff: net.hosts.filter((h) => !cur.hostsOn[h.index]).map((h) => h.name),
      linksOn: power.linksOn,
      powerW: round(power.totalW, 3),
      baselineW: round(baseline[t], 3),
      migrations: transition.migrations,
      stagingMigrations: transition.staging,
    });
    prev = cur;
  }
  const checks: ChecksJson = {
    passed: failures.length === 0,
    statesChecked,
    maxLinkUtilisation: round(maxLink, 4),
    maxHostUtilisation: round(maxHost, 4),
    failures,
  };
  if (mode === "rolling") gap = energyWh > 0 ? Math.max(0, (energyWh - boundWh) / energyWh) : 0;
  return {
    ...base,
    mode,
    status: checks.passed ? status : "infeasible",
    solveSeconds: round((performance.now() - started) / 1000, 4),
    gap: gap === null ? null : round(gap, 6),
    migrations: migrationsOf(steps),
    steps,
    checks,
    explanation: checks.passed
      ? []
      : ["the plan fails the independent check (see checks.failures)"],
    notes,
    finalPlacement: placementRecord(net, prev.placement),
    slots: slotReports,
    energyWh: round(energyWh, 3),
    baselineWh: round(baselineWh, 3),
    energySavedFraction: round(baselineWh > 0 ? 1 - energyWh / baselineWh : 0, 6),
    energyBoundWh: round(boundWh, 3),
    placements: plans.map((p) => placementRecord(net, p.placement)),
  };
}

function samePlacement(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Hosts holding a router in a placement. */
function occupied(net: Network, placement: Int32Array): Uint8Array {
  const on = new Uint8Array(net.hosts.length);
  for (const h of placement) on[h] = 1;
  return on;
}

/** Hosts powered in a decoded period: exactly those holding a router. */
function hostsWithRouters(net: Network) {
  return (p: PeriodPlacement): SlotPlan => {
    const hostsOn = new Uint8Array(net.hosts.length);
    for (const h of p.placement) hostsOn[h] = 1;
    return { placement: p.placement, hostsOn };
  };
}

/** The greedy placements slot by slot (a start for the joint model), or null if one fails. */
function greedyDay(
  net: Network,
  problem: PlacementProblem,
  lookahead: number,
  budget: number,
): Int32Array[] | null {
  const out: Int32Array[] = [];
  let prev = problem.origin;
  for (let t = 0; t < problem.periods.length; t++) {
    const g = consolidateSlot(
      net,
      problem.candidates,
      prev,
      lookaheadScale(problem, t, lookahead),
      budget,
    );
    if (!g.valid) return null;
    let moves = 0;
    for (let r = 0; r < prev.length; r++) if (prev[r] !== g.placement[r]) moves++;
    if (moves > budget) return null;
    out.push(g.placement);
    prev = g.placement;
  }
  return out;
}

type Rolled =
  | { ok: true; plans: SlotPlan[]; transitions: Transition[]; boundWh: number; notes: string[] }
  | { ok: false; explanation: string[] };

/** The slot's traffic the placement must hold at: its own and the next `lookahead` slots'. */
function lookaheadScale(problem: PlacementProblem, t: number, lookahead: number): number {
  let scale = problem.periods[t].scale;
  for (let k = 1; k <= lookahead && t + k < problem.periods.length; k++)
    scale = Math.max(scale, problem.periods[t + k].scale);
  return scale;
}

async function rollingPlan(
  net: Network,
  problem: PlacementProblem,
  lookahead: number,
  remaining: () => number,
  mipGap: number,
  slotName: (t: number) => string,
  transitionScale: (t: number) => number,
): Promise<Rolled> {
  const T = problem.periods.length;
  const plans: SlotPlan[] = [];
  const transitions: Transition[] = [];
  const notes: string[] = [];
  let boundWh = 0;
  let setAside = 0;
  let prev: SlotPlan = {
    placement: problem.origin,
    hostsOn: new Uint8Array(net.hosts.length).fill(1),
  };
  const budget = problem.migrationBudget ?? net.routers.length;
  for (let t = 0; t < T; t++) {
    const share = (remaining() * 0.6) / (T - t);
    const period = problem.periods[t];
    const scale = lookaheadScale(problem, t, lookahead);
    const forbidden = new Map<number, Set<number>>();
    let chosen: { plan: SlotPlan; transition: Transition } | null = null;
    let lastBlocked: BlockedMigration[] = [];
    for (let round = 0; round < MAX_ROUNDS && chosen === null; round++) {
      const candidates =
        forbidden.size > 0 ? withoutMoves(net, problem.candidates, forbidden) : problem.candidates;
      const slotProblem: PlacementProblem = {
        ...problem,
        candidates,
        origin: prev.placement,
        periods: [{ ...period, scale }],
      };
      const greedy = consolidateSlot(net, candidates, prev.placement, scale, budget);
      const built = buildModel(slotProblem);
      const start = encodeStart(built, slotProblem, [
        greedy.valid ? greedy.placement : prev.placement,
      ]);
      const outcome = await solveModel(built.data, {
        timeLimit: (share * 0.8) / (round + 1),
        mipGap,
        start: start ?? undefined,
      });
      const options: SlotPlan[] = [];
      if (outcome.colValue !== null) {
        const decoded = decodeSolution(built, slotProblem, outcome.colValue);
        if (!decoded.ok) return { ok: false, explanation: [decoded.error] };
        options.push(hostsWithRouters(net)(decoded.periods[0]));
      } else if (outcome.status === "infeasible") {
        const why = await explainInfeasible(slotProblem, { timeLimit: Math.min(10, remaining()) });
        return { ok: false, explanation: [`${slotName(t)}:`, ...why] };
      }
      if (greedy.valid) options.push({ placement: greedy.placement, hostsOn: greedy.hostsOn });
      const energy = (p: SlotPlan) =>
        statePower(net, p.placement, p.hostsOn, period.meanScale).totalW;
      options.sort((a, b) => energy(a) - energy(b));
      for (const plan of options) {
        const result = orderTransition(net, problem.candidates, prev, plan, transitionScale(t));
        if (result.ok) {
          chosen = { plan, transition: result.transition };
          break;
        }
        lastBlocked = result.blocked;
      }
      if (chosen === null)
        for (const b of lastBlocked) {
          const set = forbidden.get(b.router) ?? new Set<number>();
          if (!set.has(b.to)) setAside++;
          set.add(b.to);
          forbidden.set(b.router, set);
        }
    }
    if (chosen === null) {
      // Staying put is always safe when the previous placement holds at this slot's traffic.
      const stay = checkState(net, { placement: prev.placement, scale, hostsOn: prev.hostsOn });
      if (!stay.ok) return { ok: false, explanation: blockedText(net, slotName(t), lastBlocked) };
      chosen = {
        plan: prev,
        transition: { steps: [], scale: transitionScale(t), migrations: 0, staging: 0 },
      };
    }
    plans.push(chosen.plan);
    transitions.push(chosen.transition);
    prev = chosen.plan;
    boundWh += await slotEnergyLowerBound(
      net,
      problem.candidates,
      period,
      Math.max(0.05, share * 0.2),
    );
  }
  if (setAside > 0)
    notes.push(
      `${setAside} move(s) were set aside because no order could run them without a transient overload`,
    );
  return { ok: true, plans, transitions, boundWh, notes };
}

function peakHour(net: Network): number {
  let best = 0;
  let bestScale = -1;
  for (let h = 0; h < 24; h++) {
    const s = slotTraffic(net.diurnal, h, 1).meanScale;
    if (s > bestScale) {
      best = h;
      bestScale = s;
    }
  }
  return best;
}

export function hourText(hour: number): string {
  const h = ((hour % 24) + 24) % 24;
  const hh = Math.floor(h);
  const mm = Math.round((h - hh) * 60);
  return `${String(hh).padStart(2, "0")}:${String(mm).padStart(2, "0")}`;
}
