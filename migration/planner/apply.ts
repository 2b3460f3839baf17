/**
 * Carrying a plan out: one step at a time over a `Migrator` (the live
 * migration API of the hypervisors, or an in-memory stand-in), stopping
 * safely at the first failure and saying exactly where it stopped and what
 * state the network is in.
 *
 * Before each step the executor reads where every router runs and compares
 * it with the state the plan expects at that point; it also checks again,
 * with the checker, that the state in flight and the state the step leads to
 * satisfy every constraint. Any difference stops the run before the step.
 * A migration that fails is, by the migration design, rolled back before
 * its commit (the source stays authoritative) — but the executor does not
 * take that on trust: it reads the placement again and reports whether the
 * network is in the planned state before the step, after it, or in neither,
 * with the checker's verdict on the state it found.
 *
 * Host power steps need a migrator that can power hosts; a plan with such
 * steps is refused before its first step otherwise. An abort signal stops
 * the run between steps, or cancels the migration in flight (which rolls
 * back).
 */
import { checkState } from "./checker.ts";
import type { Network } from "./network.ts";
import type { PlanStep } from "./verify.ts";

export type MigrationOutcome = { ok: true } | { ok: false; error: string };

export interface Migrator {
  /** Where each router runs now (router name → host name). */
  placement(signal: AbortSignal): Promise<ReadonlyMap<string, string>>;
  /** Moves a router live to another host; resolves when done or failed. */
  migrate(router: string, toHost: string, signal: AbortSignal): Promise<MigrationOutcome>;
  /** Powers a host on or off (absent when the migrator cannot). */
  setHostPower?(host: string, on: boolean, signal: AbortSignal): Promise<MigrationOutcome>;
}

export type NetworkState =
  /** Every step done, the network as the plan ends. */
  | "complete"
  /** Stopped before a step, with the network as planned before it. */
  | "as-planned-before-step"
  /** The failed step took effect after all: the network is as planned after it. */
  | "as-planned-after-step"
  /** The network is in a state the plan does not foresee. */
  | "off-plan"
  /** The placement could not be read. */
  | "unknown";

export interface StepEvent {
  step: number;
  total: number;
  description: string;
  phase: "start" | "done" | "failed";
  error?: string;
}

export interface ApplyReport {
  /** Every step done. */
  completed: boolean;
  stepsDone: number;
  stepsTotal: number;
  /** The step the run stopped at (1-based), with why. */
  stoppedAt: { step: number; description: string; reason: string } | null;
  state: NetworkState;
  /** The placement read last (router → host), when it could be read. */
  placement: Record<string, string> | null;
  /** Routers not where the plan expects them at the point the run stopped. */
  deviations: { router: string; expected: string; actual: string }[];
  /** The checker's findings on the placement read last. */
  violations: string[];
  summary: string;
}

export interface ApplyOptions {
  /** Traffic level the plan was checked at. */
  scale: number;
  /** Powered hosts before the first step (all when absent). */
  hostsOn?: Uint8Array;
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
}

export function describeStep(net: Network, s: PlanStep): string {
  if (s.kind === "migrate")
    return `migrate ${net.routers[s.router].name} from ${net.hosts[s.from].name} to ${net.hosts[s.to].name}${s.staging ? " (park)" : ""}`;
  return `${s.kind === "power-on" ? "power on" : "power off"} host ${net.hosts[s.host].name}`;
}

type Observation =
  | { ok: true; placement: Int32Array; names: Record<string, string> }
  | { ok: false; error: string };

async function observe(
  net: Network,
  migrator: Migrator,
  signal: AbortSignal,
): Promise<Observation> {
  let map: ReadonlyMap<string, string>;
  try {
    map = await migrator.placement(signal);
  } catch (e) {
    return { ok: false, error: `cannot read the placement: ${(e as Error).message}` };
  }
  const placement = new Int32Array(net.routers.length).fill(-1);
  const names: Record<string, string> = {};
  for (const r of net.routers) {
    const host = map.get(r.name);
    names[r.name] = host ?? "";
    const h = host === undefined ? undefined : net.hostIndex.get(host);
    placement[r.index] = h ?? -1;
  }
  return { ok: true, placement, names };
}

function deviations(
  net: Network,
  expected: Int32Array,
  actual: Int32Array,
  names: Record<string, string>,
) {
  const out: { router: string; expected: string; actual: string }[] = [];
  for (const r of net.routers) {
    if (expected[r.index] === actual[r.index]) continue;
    out.push({
      router: r.name,
      expected: expected[r.index] >= 0 ? net.hosts[expected[r.index]].name : "(nowhere)",
      actual: names[r.name] || "(nowhere)",
    });
  }
  return out;
}

function sameAs(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function applyPlan(
  net: Network,
  initial: Int32Array,
  steps: readonly PlanStep[],
  migrator: Migrator,
  options: ApplyOptions,
): Promise<ApplyReport> {
  const signal = options.signal ?? new AbortController().signal;
  const expected = initial.slice();
  const hostsOn = options.hostsOn
    ? options.hostsOn.slice()
    : new Uint8Array(net.hosts.length).fill(1);
  const total = steps.length;
  let last: Observation | null = null;

  const report = (
    stepIndex: number,
    reason: string,
    state: NetworkState,
    expectedNow: Int32Array,
  ): ApplyReport => {
    const obs = last;
    const placement = obs?.ok ? obs.names : null;
    const devs = obs?.ok ? deviations(net, expectedNow, obs.placement, obs.names) : [];
    const violations = obs?.ok
      ? checkState(net, { placement: obs.placement, scale: options.scale, hostsOn }).violations.map(
          (v) => v.message,
        )
      : [];
    const description = stepIndex < total ? describeStep(net, steps[stepIndex]) : "end of plan";
    const where = `stopped at step ${stepIndex + 1} of ${total} (${description}) after ${stepIndex} step(s) done`;
    const stateText: Record<NetworkState, string> = {
      complete: "the network is as the plan ends",
      "as-planned-before-step": `the network is as planned before step ${stepIndex + 1}`,
      "as-planned-after-step": `the failed step took effect: the network is as planned after step ${stepIndex + 1}`,
      "off-plan": `the network is in a state the plan does not foresee (${devs.length} router(s) elsewhere)`,
      unknown: "the network's state could not be read",
    };
    const verdict = obs?.ok
      ? violations.length === 0
        ? "it satisfies every constraint"
        : `it breaks ${violations.length} constraint(s)`
      : "";
    return {
      completed: false,
      stepsDone: stepIndex,
      stepsTotal: total,
      stoppedAt: { step: stepIndex + 1, description, reason },
      state,
      placement,
      deviations: devs,
      violations,
      summary: `${where}: ${reason}; ${stateText[state]}${verdict ? `, and ${verdict}` : ""}`,
    };
  };

  const needsPower = steps.some((s) => s.kind !== "migrate");
  if (needsPower && migrator.setHostPower === undefined) {
    last = await observe(net, migrator, signal);
    return report(
      0,
      "the plan powers hosts on or off, and this migrator cannot",
      last.ok ? "as-planned-before-step" : "unknown",
      expected,
    );
  }

  for (let i = 0; i < total; i++) {
    const step = steps[i];
    const description = describeStep(net, step);
    if (signal.aborted) {
      last = await observe(net, migrator, new AbortController().signal);
      return report(i, "aborted", stateFor(last, expected, null), expected);
    }
    last = await observe(net, migrator, signal);
    if (!last.ok) return report(i, last.error, "unknown", expected);
    if (!sameAs(last.placement, expected))
      return report(
        i,
        "the network is not in the state the plan expects before this step",
        "off-plan",
        expected,
      );

    // The states this step passes through and leads to must still pass the checker.
    const after = expected.slice();
    const afterOn = hostsOn.slice();
    if (step.kind === "migrate") {
      if (expected[step.router] !== step.from)
        return report(
          i,
          `the plan moves ${net.routers[step.router].name} from a host it is not on`,
          "as-planned-before-step",
          expected,
        );
      const union = afterOn;
      const inFlight = checkState(net, {
        placement: expected,
        scale: options.scale,
        hostsOn: union,
        transit: { router: step.router, from: step.from, to: step.to },
      });
      after[step.router] = step.to;
      const done = checkState(net, { placement: after, scale: options.scale, hostsOn: afterOn });
      const bad = [...inFlight.violations, ...done.violations].map((v) => v.message);
      if (bad.length > 0)
        return report(
          i,
          `the step would break constraints: ${[...new Set(bad)].join("; ")}`,
          "as-planned-before-step",
          expected,
        );
    } else {
      afterOn[step.host] = step.kind === "power-on" ? 1 : 0;
      if (step.kind === "power-off") {
        const done = checkState(net, { placement: after, scale: options.scale, hostsOn: afterOn });
        const bad = done.violations.map((v) => v.message);
        if (bad.length > 0)
          return report(
            i,
            `the step would break constraints: ${bad.join("; ")}`,
            "as-planned-before-step",
            expected,
          );
      }
    }

    options.onStep?.({ step: i + 1, total, description, phase: "start" });
    let outcome: MigrationOutcome;
    try {
      outcome =
        step.kind === "migrate"
          ? await migrator.migrate(net.routers[step.router].name, net.hosts[step.to].name, signal)
          : await migrator.setHostPower!(
              net.hosts[step.host].name,
              step.kind === "power-on",
              signal,
            );
    } catch (e) {
      outcome = { ok: false, error: (e as Error).message };
    }
    if (!outcome.ok) {
      options.onStep?.({ step: i + 1, total, description, phase: "failed", error: outcome.error });
      last = await observe(net, migrator, new AbortController().signal);
      const state = stateFor(last, expected, step.kind === "migrate" ? after : null);
      if (state === "as-planned-after-step") {
        expected.set(after);
        hostsOn.set(afterOn);
      }
      return report(i, outcome.error, state, state === "as-planned-after-step" ? after : expected);
    }
    options.onStep?.({ step: i + 1, total, description, phase: "done" });
    expected.set(after);
    hostsOn.set(afterOn);
  }

  last = await observe(net, migrator, signal);
  if (!last.ok) return report(total, last.error, "unknown", expected);
  if (!sameAs(last.placement, expected))
    return report(
      total,
      "after the last step the network is not as the plan ends",
      "off-plan",
      expected,
    );
  const violations = checkState(net, {
    placement: last.placement,
    scale: options.scale,
    hostsOn,
  }).violations.map((v) => v.message);
  return {
    completed: true,
    stepsDone: total,
    stepsTotal: total,
    stoppedAt: null,
    state: "complete",
    placement: last.names,
    deviations: [],
    violations,
    summary: `all ${total} step(s) done; the network is as the plan ends${violations.length === 0 ? " and satisfies every constraint" : `, but breaks ${violations.length} constraint(s)`}`,
  };
}

function stateFor(obs: Observation, before: Int32Array, after: Int32Array | null): NetworkState {
  if (!obs.ok) return "unknown";
  if (sameAs(obs.placement, before)) return "as-planned-before-step";
  if (after && sameAs(obs.placement, after)) return "as-planned-after-step";
  return "off-plan";
}
