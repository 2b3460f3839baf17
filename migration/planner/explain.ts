/**
 * Explaining why no plan exists, naming the routers, hosts and links at
 * fault.
 *
 * 1. Routers with no possible host at all: the candidate filter
 *    (`candidates.ts`) already knows why (platform, capabilities, excluded
 *    hosts, or a virtual link whose delay bound no pair of hosts can meet).
 * 2. Otherwise the placement model is rebuilt in elastic form: every
 *    capacity row may overflow and every router may stay unplaced, at a
 *    penalty (overflow measured as a fraction of the capacity; an unplaced
 *    router costs far more). HiGHS finds the least-penalty relaxation, and
 *    what it had to relax is the explanation: "host X: 18.0 of 14.4 cores",
 *    "link A-B (A→B): 11.2 of 9.0 Gb/s", "router R has no host left", "slot
 *    5 needs 2 more migrations than the budget". These are the smallest
 *    violations that would make the problem feasible, not an arbitrary
 *    first failure.
 */
import type { Candidates } from "./candidates.ts";
import { buildModel, type PlacementProblem } from "./model.ts";
import type { Network } from "./network.ts";
import { solveModel } from "./solver.ts";

function mbps(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} Gb/s` : `${x.toFixed(1)} Mb/s`;
}

/** Messages for routers left without any host. */
export function explainEmptyCandidates(net: Network, candidates: Candidates): string[] {
  const roots = candidates.empty.filter((e) => !e.cascade);
  const cascade = candidates.empty.filter((e) => e.cascade);
  const out = roots.map((e) => `router ${net.routers[e.router].name}: ${e.reason}`);
  if (cascade.length > 0) {
    const names = cascade.map((e) => net.routers[e.router].name);
    const shown =
      names.length > 12 ? [...names.slice(0, 12), `and ${names.length - 12} more`] : names;
    out.push(
      `as a consequence ${cascade.length} router(s) linked to them within delay bounds have no host either: ${shown.join(", ")}`,
    );
  }
  return out;
}

export interface ExplainOptions {
  timeLimit: number;
  /** How to name period t in messages ("slot 3 (03:00)"); omitted for one period. */
  periodName?: (t: number) => string;
}

export async function explainInfeasible(
  problem: PlacementProblem,
  options: ExplainOptions,
): Promise<string[]> {
  const { net } = problem;
  const empty = explainEmptyCandidates(net, problem.candidates);
  if (empty.length > 0) return empty;
  const built = buildModel({ ...problem, elastic: true });
  const outcome = await solveModel(built.data, { timeLimit: options.timeLimit, mipGap: 1e-4 });
  if (outcome.colValue === null)
    return [
      `no plan exists${outcome.status === "unknown" ? " (or none was found within the time limit)" : ""}, and the relaxed model could not point at the cause (${outcome.highsStatus})`,
    ];
  const values = outcome.colValue;
  const where = (t: number) =>
    problem.periods.length > 1 && options.periodName ? ` in ${options.periodName(t)}` : "";
  const messages: string[] = [];

  // Which routers sit where in the relaxed solution (for naming who loads a host or link).
  const placements: Int32Array[] = [];
  for (let t = 0; t < problem.periods.length; t++) {
    const p = new Int32Array(net.routers.length).fill(-1);
    for (let r = 0; r < net.routers.length; r++)
      built.x[t][r].forEach((c, k) => {
        if (values[c] > 0.5) p[r] = problem.candidates.hosts[r][k];
      });
    placements.push(p);
  }

  for (const s of built.slacks) {
    const amount = values[s.col];
    if (!(amount > 1e-6)) continue;
    const t = s.period;
    switch (s.kind) {
      case "unplaced": {
        const r = net.routers[s.entity];
        const hosts = problem.candidates.hosts[s.entity].map((h) => net.hosts[h].name);
        messages.push(
          `router ${r.name}: cannot be placed${where(t)}: the hosts it may use (${hosts.join(", ")}) cannot take it without breaking a delay bound or a capacity`,
        );
        break;
      }
      case "host-cpu":
      case "host-memory":
      case "host-routers":
      case "host-throughput": {
        const host = net.hosts[s.entity];
        const on = net.routers
          .filter((r) => placements[t][r.index] === s.entity)
          .map((r) => r.name);
        const need = s.scale + amount;
        const what =
          s.kind === "host-cpu"
            ? `CPU: ${need.toFixed(2)} of ${s.scale.toFixed(2)} cores`
            : s.kind === "host-memory"
              ? `memory: ${need.toFixed(0)} of ${s.scale.toFixed(0)} MB`
              : s.kind === "host-routers"
                ? `routers: ${need.toFixed(0)} of ${s.scale.toFixed(0)}`
                : `forwarded traffic: ${mbps(need)} of ${mbps(s.scale)}`;
        messages.push(`host ${host.name} short of ${what}${where(t)} (routers: ${on.join(", ")})`);
        break;
      }
      case "arc": {
        const link = net.links[s.entity >> 1];
        const [a, b] = s.entity & 1 ? [link.b, link.a] : [link.a, link.b];
        messages.push(
          `link ${link.name} (${net.pops[a].name}→${net.pops[b].name}) over capacity${where(t)}: ${mbps(s.scale + amount)} of ${mbps(s.scale)} usable`,
        );
        break;
      }
      case "budget":
        messages.push(
          `migration budget${where(t)}: ${Math.ceil(amount - 1e-6)} more migration(s) than the ${problem.migrationBudget} allowed are needed`,
        );
        break;
      default:
        break;
    }
  }
  if (messages.length === 0)
    messages.push(
      "no plan was found within the time limit, though the constraints do not rule one out",
    );
  return messages;
}
