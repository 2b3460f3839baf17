/**
 * Running HiGHS (the npm `highs` package: HiGHS compiled to WebAssembly,
 * single-threaded) on a built model, with a time limit and a relative MIP
 * gap, optionally from a known feasible start.
 *
 * Status: `optimal` only when HiGHS reports the model optimal with a gap no
 * larger than HiGHS's own default tolerance (1e-4); a solution found before
 * the time limit, or proved only to a looser gap the caller asked for, is
 * `feasible` and carries its gap; `infeasible` when HiGHS proves there is no
 * solution; `unknown` when the time ran out before any solution.
 */
import highsModule, { type Highs, type ModelData } from "highs";

// The package's types describe its CommonJS build (loader under `default`);
// Node loads its ES module build, whose default export is the loader itself.
const loadHighs = ((highsModule as unknown as { default?: unknown }).default ??
  highsModule) as unknown as typeof highsModule.default;

export type SolveStatus = "optimal" | "feasible" | "infeasible" | "unknown";

/** HiGHS's default `mip_rel_gap`: the tolerance at which we call a solution optimal. */
export const OPTIMAL_GAP = 1e-4;

export interface SolveOptions {
  /** Seconds. */
  timeLimit: number;
  /** Relative MIP gap at which HiGHS may stop. */
  mipGap: number;
  /** A feasible assignment of every column to start from. */
  start?: Float64Array;
}

export interface SolveOutcome {
  status: SolveStatus;
  /** Column values when a solution exists. */
  colValue: Float64Array | null;
  objective: number;
  /** Best bound proved on the objective. */
  bound: number;
  /** Relative gap between objective and bound (0 when optimal). */
  gap: number;
  seconds: number;
  nodes: number;
  /** HiGHS's own model status name. */
  highsStatus: string;
}

let runtime: Promise<Highs> | null = null;

/** Loads the WebAssembly solver once per process. */
export function highsRuntime(): Promise<Highs> {
  if (runtime === null) runtime = loadHighs();
  return runtime;
}

const STATUS_NAMES: Record<number, string> = {
  0: "not set",
  1: "load error",
  2: "model error",
  3: "presolve error",
  4: "solve error",
  5: "postsolve error",
  6: "empty",
  7: "optimal",
  8: "infeasible",
  9: "unbounded or infeasible",
  10: "unbounded",
  11: "objective bound",
  12: "objective target",
  13: "time limit",
  14: "iteration limit",
  15: "unknown",
  16: "solution limit",
  17: "interrupted",
};

export async function solveModel(data: ModelData, options: SolveOptions): Promise<SolveOutcome> {
  const highs = await highsRuntime();
  const started = performance.now();
  const model = highs.createModel(data);
  try {
    model.options.set({
      output_flag: false,
      time_limit: Math.max(0.01, options.timeLimit),
      mip_rel_gap: options.mipGap,
      presolve: "on",
    });
    if (options.start) model.setSolution({ colValue: options.start });
    model.run();
    const code = model.getModelStatus();
    const name = STATUS_NAMES[code] ?? String(code);
    const primal = Number(model.info.get("primal_solution_status"));
    const hasSolution = primal === highs.constants.solutionStatus.feasible || code === 6;
    const seconds = (performance.now() - started) / 1000;
    const nodes = Number(model.info.get("mip_node_count"));
    if (
      code === highs.constants.modelStatus.infeasible ||
      code === highs.constants.modelStatus.unboundedOrInfeasible
    )
      return {
        status: "infeasible",
        colValue: null,
        objective: Number.NaN,
        bound: Number.NaN,
        gap: Number.NaN,
        seconds,
        nodes,
        highsStatus: name,
      };
    if (!hasSolution)
      return {
        status: "unknown",
        colValue: null,
        objective: Number.NaN,
        bound: Number(model.info.get("mip_dual_bound")),
        gap: Number.NaN,
        seconds,
        nodes,
        highsStatus: name,
      };
    const colValue = model.getSolution().colValue;
    const objective = model.getObjectiveValue();
    const isMip =
      data.integrality !== undefined &&
      Array.prototype.some.call(data.integrality, (v: number) => v !== 0);
    let bound = isMip ? Number(model.info.get("mip_dual_bound")) : objective;
    let gap = isMip ? Number(model.info.get("mip_gap")) : 0;
    if (!Number.isFinite(gap)) gap = Number.POSITIVE_INFINITY;
    if (code === 6 || !Number.isFinite(bound)) bound = code === 6 ? objective : bound;
    if (code === 6) gap = 0;
    const optimal =
      (code === highs.constants.modelStatus.optimal || code === 6) && gap <= OPTIMAL_GAP;
    return {
      status: optimal ? "optimal" : "feasible",
      colValue,
      objective,
      bound,
      gap: Math.max(0, gap),
      seconds,
      nodes,
      highsStatus: name,
    };
  } finally {
    model.dispose();
  }
}
