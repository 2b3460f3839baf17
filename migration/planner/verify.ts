/**
 * Independent verification of a plan: replays its steps from the initial
 * placement and checks every state from scratch with the checker (the
 * initial state, each migration in flight, each state after a step), never
 * trusting the solver or the ordering search. A plan is shown only when this
 * passes; when it does not, the failures say at which step and why.
 */
import { checkState, type Violation } from "./checker.ts";
import type { Network } from "./network.ts";

export type PlanStep =
  | { kind: "migrate"; router: number; from: number; to: number; staging: boolean }
  | { kind: "power-on"; host: number }
  | { kind: "power-off"; host: number };

export interface StepFailure {
  /** Index in the step list, or -1 for the initial state. */
  step: number;
  phase: "initial" | "in flight" | "after";
  violation: Violation;
}

export interface VerifyResult {
  ok: boolean;
  /** Number of states checked (steady and in flight). */
  statesChecked: number;
  failures: StepFailure[];
  /** Highest link and host (CPU) utilisation seen in any state. */
  maxLinkUtilisation: number;
  maxHostUtilisation: number;
  placement: Int32Array;
  hostsOn: Uint8Array;
}

export interface VerifyOptions {
  scale: number;
  /** Powered hosts at the start (all when absent). */
  hostsOn?: Uint8Array;
  /** Also check the initial state (default true). */
  checkInitial?: boolean;
}

export function verifySteps(
  net: Network,
  initial: Int32Array,
  steps: readonly PlanStep[],
  options: VerifyOptions,
): VerifyResult {
  const placement = initial.slice();
  const hostsOn = options.hostsOn
    ? options.hostsOn.slice()
    : new Uint8Array(net.hosts.length).fill(1);
  const failures: StepFailure[] = [];
  let states = 0;
  let maxLink = 0;
  let maxHost = 0;
  const check = (
    step: number,
    phase: StepFailure["phase"],
    transit?: { router: number; from: number; to: number },
  ) => {
    const result = checkState(net, { placement, scale: options.scale, hostsOn, transit });
    states++;
    maxLink = Math.max(maxLink, result.maxLinkUtilisation);
    maxHost = Math.max(maxHost, result.maxHostUtilisation);
    for (const violation of result.violations) failures.push({ step, phase, violation });
  };
  if (options.checkInitial !== false) check(-1, "initial");
  steps.forEach((s, i) => {
    if (s.kind === "power-on") {
      hostsOn[s.host] = 1;
      return;
    }
    if (s.kind === "power-off") {
      hostsOn[s.host] = 0;
      check(i, "after");
      return;
    }
    if (placement[s.router] !== s.from) {
      failures.push({
        step: i,
        phase: "in flight",
        violation: {
          kind: "unplaced",
          router: net.routers[s.router].name,
          message: `step ${i + 1} moves router ${net.routers[s.router].name} from host ${net.hosts[s.from].name}, but it is on ${placement[s.router] >= 0 ? `host ${net.hosts[placement[s.router]].name}` : "no host"}`,
        },
      });
    }
    check(i, "in flight", { router: s.router, from: s.from, to: s.to });
    placement[s.router] = s.to;
    check(i, "after");
  });
  return {
    ok: failures.length === 0,
    statesChecked: states,
    failures,
    maxLinkUtilisation: maxLink,
    maxHostUtilisation: maxHost,
    placement,
    hostsOn,
  };
}
