/**
 * What a plan looks like outside the planner: the JSON object `vroomctl
 * plan ...` prints and `vroomctl plan apply` reads back. Routers, hosts and
 * PoPs appear by name; steps are numbered from 1 in the order they run.
 *
 * Every plan carries `status` (`optimal`, `feasible` or `infeasible`),
 * `solveSeconds` (wall-clock time of the whole planning run: model building,
 * HiGHS, ordering and verification), `gap` (relative MIP gap, null when no
 * solution), `migrations` (the ordered migrations), `steps` (migrations plus
 * host power changes), `checks` (the independent verification) and, when
 * infeasible, `explanation`.
 */
import type { Network } from "./network.ts";
import type { PlanStep, VerifyResult } from "./verify.ts";

export type PlanStatus = "optimal" | "feasible" | "infeasible";

export interface MigrationJson {
  step: number;
  router: string;
  from: string;
  to: string;
  fromPop: string;
  toPop: string;
  /** A park on the way to the router's final host. */
  staging: boolean;
  /** Power plans: the slot the migration leads into. Deployment: the stage. */
  slot?: number;
  stage?: number;
}

export type StepJson =
  | ({ kind: "migrate" } & MigrationJson)
  | { step: number; kind: "power-on" | "power-off"; host: string; slot?: number; stage?: number };

export interface ChecksJson {
  passed: boolean;
  statesChecked: number;
  maxLinkUtilisation: number;
  maxHostUtilisation: number;
  failures: string[];
}

export interface PlanBase {
  kind: "maintenance" | "power" | "deploy";
  network: string;
  status: PlanStatus;
  solveSeconds: number;
  gap: number | null;
  /** Traffic level (multiplier of the peak) the transition is checked at. */
  trafficScale: number;
  migrations: MigrationJson[];
  steps: StepJson[];
  checks: ChecksJson;
  explanation: string[];
  /** Remarks on a plan that exists (moves set aside, the solver's limits, ...). */
  notes: string[];
  initialPlacement: Record<string, string>;
  finalPlacement: Record<string, string>;
}

export function placementRecord(net: Network, placement: Int32Array): Record<string, string> {
  const out: Record<string, string> = {};
  net.routers.forEach((r, i) => {
    out[r.name] = placement[i] >= 0 ? net.hosts[placement[i]].name : "";
  });
  return out;
}

export interface StepTag {
  slot?: number;
  stage?: number;
}

/** Names and numbers steps; `first` is the number of the first step. */
export function stepsToJson(
  net: Network,
  steps: readonly PlanStep[],
  first: number,
  tag: StepTag = {},
): StepJson[] {
  return steps.map((s, i) => {
    const step = first + i;
    if (s.kind === "migrate")
      return {
        step,
        kind: "migrate",
        router: net.routers[s.router].name,
        from: net.hosts[s.from].name,
        to: net.hosts[s.to].name,
        fromPop: net.pops[net.hosts[s.from].pop].name,
        toPop: net.pops[net.hosts[s.to].pop].name,
        staging: s.staging,
        ...tag,
      };
    return { step, kind: s.kind, host: net.hosts[s.host].name, ...tag };
  });
}

export function migrationsOf(steps: readonly StepJson[]): MigrationJson[] {
  const out: MigrationJson[] = [];
  for (const s of steps) {
    if (s.kind !== "migrate") continue;
    const { kind: _kind, ...migration } = s;
    out.push(migration);
  }
  return out;
}

export function checksJson(verify: VerifyResult | null, steps: readonly StepJson[]): ChecksJson {
  if (verify === null)
    return {
      passed: false,
      statesChecked: 0,
      maxLinkUtilisation: 0,
      maxHostUtilisation: 0,
      failures: [],
    };
  return {
    passed: verify.ok,
    statesChecked: verify.statesChecked,
    maxLinkUtilisation: round(verify.maxLinkUtilisation, 4),
    maxHostUtilisation: round(verify.maxHostUtilisation, 4),
    failures: verify.failures.map((f) => {
      const where =
        f.step < 0 ? "initial state" : `step ${steps[f.step]?.step ?? f.step + 1} ${f.phase}`;
      return `${where}: ${f.violation.message}`;
    }),
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Reads steps back from JSON (names → indices); every error names the step and field. */
export function stepsFromJson(
  net: Network,
  steps: unknown,
): { ok: true; steps: PlanStep[]; tags: StepTag[] } | { ok: false; errors: string[] } {
  if (!Array.isArray(steps)) return { ok: false, errors: ["plan: field steps: expected a list"] };
  const out: PlanStep[] = [];
  const tags: StepTag[] = [];
  const errors: string[] = [];
  steps.forEach((raw, i) => {
    const at = `plan step ${i + 1}`;
    if (typeof raw !== "object" || raw === null) {
      errors.push(`${at}: expected an object`);
      return;
    }
    const s = raw as Record<string, unknown>;
    const host = (field: string): number => {
      const v = s[field];
      const h = typeof v === "string" ? net.hostIndex.get(v) : undefined;
      if (h === undefined) {
        errors.push(`${at}: field ${field}: unknown host ${JSON.stringify(v)}`);
        return -1;
      }
      return h;
    };
    const tag: StepTag = {};
    if (typeof s.slot === "number") tag.slot = s.slot;
    if (typeof s.stage === "number") tag.stage = s.stage;
    if (s.kind === "migrate") {
      const r = typeof s.router === "string" ? net.routerIndex.get(s.router) : undefined;
      if (r === undefined)
        errors.push(`${at}: field router: unknown router ${JSON.stringify(s.router)}`);
      const from = host("from");
      const to = host("to");
      if (r !== undefined && from >= 0 && to >= 0) {
        out.push({ kind: "migrate", router: r, from, to, staging: s.staging === true });
        tags.push(tag);
      }
    } else if (s.kind === "power-on" || s.kind === "power-off") {
      const h = host("host");
      if (h >= 0) {
        out.push({ kind: s.kind, host: h });
        tags.push(tag);
      }
    } else errors.push(`${at}: field kind: expected migrate, power-on or power-off`);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, steps: out, tags };
}

/** Thrown for bad planning requests (unknown host names, bad options). */
export class PlanRequestError extends Error {
  override name = "PlanRequestError";
}
