/**
 * One relocation: from today's placement to a new one where some hosts are
 * excluded or some routers must move, with the fewest migrations and then
 * the least added delay (lexicographic, in two HiGHS runs: first the
 * fewest migrations M*, then the least delay among placements with at most
 * M* migrations, started from the first solution), then ordered so that no
 * state on the way breaks a constraint, then verified from scratch.
 *
 * Planned maintenance is one relocation; service deployment is one per stage.
 */
import { type Candidates, withoutMoves } from "./candidates.ts";
import { checkState } from "./checker.ts";
import { decodeSolution } from "./decode.ts";
import { explainEmptyCandidates, explainInfeasible } from "./explain.ts";
import { buildModel, type PlacementProblem } from "./model.ts";
import type { Network } from "./network.ts";
import { orderMigrations } from "./order.ts";
import type { PlanStatus } from "./plan.ts";
import { type SolveOutcome, solveModel } from "./solver.ts";
import { pathDelay } from "./substrate.ts";
import { type PlanStep, type VerifyResult, verifySteps } from "./verify.ts";

export interface RelocateOptions {
  /** Traffic multiplier the transition and the result must hold at. */
  scale: number;
  /** Seconds for both solver runs together. */
  timeLimit: number;
  mipGap: number;
}

export interface RelocateResult {
  status: PlanStatus;
  gap: number | null;
  target: Int32Array | null;
  steps: PlanStep[];
  verify: VerifyResult | null;
  /** Migrations to a final host (parks not counted). */
  migrations: number;
  addedLatencyMs: number;
  explanation: string[];
  /** Remarks on a plan that exists (moves set aside, ...). */
  notes: string[];
  solver: { migrations: SolveOutcome | null; latency: SolveOutcome | null };
}

/** Delay added over today, summed over all virtual links, for a placement. */
export function addedLatency(net: Network, placement: Int32Array): number {
  let sum = 0;
  for (const l of net.vlinks) {
    const p = net.hosts[placement[l.a]].pop;
    const q = l.b >= 0 ? net.hosts[placement[l.b]].pop : l.anchor;
    sum += pathDelay(net.substrate, p, q) - l.todayMs;
  }
  return sum;
}

function failed(
  explanation: string[],
  solver: RelocateResult["solver"] = { migrations: null, latency: null },
): RelocateResult {
  return {
    status: "infeasible",
    gap: null,
    target: null,
    steps: [],
    verify: null,
    migrations: 0,
    addedLatencyMs: 0,
    explanation,
    notes: [],
    solver,
  };
}

/** Rounds of "solve, order, exclude the moves with no safe order". */
const MAX_ROUNDS = 6;

export async function relocate(
  net: Network,
  origin: Int32Array,
  candidates: Candidates,
  options: RelocateOptions,
): Promise<RelocateResult> {
  const started = performance.now();
  const remaining = () => Math.max(0.05, options.timeLimit - (performance.now() - started) / 1000);

  const today = checkState(net, { placement: origin, scale: options.scale });
  if (!today.ok)
    return failed([
      "the network already breaks its constraints before any move, at this traffic level:",
      ...today.violations.map((v) => `  ${v.message}`),
    ]);
  if (candidates.empty.length > 0) return failed(explainEmptyCandidates(net, candidates));

  const forbidden = new Map<number, Set<number>>();
  let excluded = 0;
  let allowed = candidates;
  for (let round = 0; ; round++) {
    const attempt = await solveLexicographic(
      net,
      origin,
      allowed,
      options.scale,
      options.mipGap,
      () => remaining() / (round === 0 ? 1 : 2),
    );
    if (!attempt.ok) {
      if (excluded > 0)
        attempt.failure.explanation.unshift(
          `${excluded} move(s) were set aside because no safe order exists for them; without them:`,
        );
      return attempt.failure;
    }
    const { target, status, gap, fewest, solver } = attempt;
    const order = orderMigrations(net, origin, target, {
      scale: options.scale,
      stagingHosts: (r) => allowed.hosts[r],
    });
    if (!order.ok) {
      const blockedText = [
        `a placement with ${fewest} migration(s) exists, but no order reaches it without breaking a constraint on the way; blocked:`,
        ...order.blocked.map(
          (b) =>
            `  router ${net.routers[b.router].name} ${net.hosts[b.from].name} → ${net.hosts[b.to].name}: ${b.violations.map((v) => v.message).join("; ")}`,
        ),
      ];
      if (round + 1 >= MAX_ROUNDS) return failed(blockedText, solver);
      for (const b of order.blocked) {
        const set = forbidden.get(b.router) ?? new Set<number>();
        if (!set.has(b.to)) excluded++;
        set.add(b.to);
        forbidden.set(b.router, set);
      }
      allowed = withoutMoves(net, candidates, forbidden);
      if (allowed.empty.length > candidates.empty.length) return failed(blockedText, solver);
      continue;
    }
    const steps: PlanStep[] = order.migrations.map((m) => ({ kind: "migrate", ...m }));
    const verify = verifySteps(net, origin, steps, { scale: options.scale });
    const restricted = excluded > 0;
    return {
      status: !verify.ok ? "infeasible" : restricted ? "feasible" : status,
      gap: verify.ok ? gap : null,
      target,
      steps,
      verify,
      migrations: order.migrations.filter((m) => !m.staging).length,
      addedLatencyMs: addedLatency(net, target),
      explanation: verify.ok ? [] : ["the ordered plan fails the independent check"],
      notes: restricted
        ? [
            `${excluded} move(s) were set aside because no order could run them without a transient overload; the plan is the best without them, so it is not proved optimal`,
          ]
        : [],
      solver,
    };
  }
}

type Lexicographic =
  | {
      ok: true;
      target: Int32Array;
      status: PlanStatus;
      gap: number;
      fewest: number;
      solver: RelocateResult["solver"];
    }
  | { ok: false; failure: RelocateResult };

/** Fewest migrations, then least added delay; the placement passes the checker. */
async function solveLexicographic(
  net: Network,
  origin: Int32Array,
  candidates: Candidates,
  scale: number,
  mipGap: number,
  timeLimit: () => number,
): Promise<Lexicographic> {
  const started = performance.now();
  const limit = timeLimit();
  const remaining = () => Math.max(0.05, limit - (performance.now() - started) / 1000);
  const problem: PlacementProblem = {
    net,
    candidates,
    origin,
    periods: [{ scale, meanScale: scale, hours: 1 }],
    power: false,
    weights: { migrations: 1, latency: 0, energy: 0 },
  };
  const first = buildModel(problem);
  const phase1 = await solveModel(first.data, { timeLimit: remaining() * 0.6, mipGap });
  if (phase1.colValue === null) {
    const why = await explainInfeasible(problem, { timeLimit: remaining() });
    if (phase1.status === "unknown")
      why.unshift("no plan found within the time limit (not proved impossible)");
    return { ok: false, failure: failed(why, { migrations: phase1, latency: null }) };
  }
  const fewest = Math.round(phase1.objective);
  const second: PlacementProblem = {
    ...problem,
    migrationBudget: fewest,
    weights: { migrations: 0, latency: 1, energy: 0 },
  };
  const built2 = buildModel(second);
  const phase2 = await solveModel(built2.data, {
    timeLimit: remaining(),
    mipGap,
    start: phase1.colValue,
  });
  const useSecond = phase2.colValue !== null;
  const decoded = useSecond
    ? decodeSolution(built2, second, phase2.colValue!)
    : decodeSolution(first, problem, phase1.colValue);
  const solver = { migrations: phase1, latency: phase2 };
  if (!decoded.ok) return { ok: false, failure: failed([decoded.error], solver) };
  const target = decoded.periods[0].placement;
  const status: PlanStatus =
    phase1.status === "optimal" && phase2.status === "optimal" ? "optimal" : "feasible";
  const gap = phase1.status !== "optimal" ? phase1.gap : useSecond ? phase2.gap : phase1.gap;
  const final = checkState(net, { placement: target, scale });
  if (!final.ok)
    return {
      ok: false,
      failure: failed(
        [
          "the solver's placement fails the independent check:",
          ...final.violations.map((v) => `  ${v.message}`),
        ],
        solver,
      ),
    };
  return { ok: true, target, status, gap, fewest, solver };
}
