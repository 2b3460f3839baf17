/**
 * `vroomctl plan ...`: the migration planner (migration/planner/) on the
 * command line.
 *
 *   plan maintenance --topology FILE --evacuate HOST[,HOST]   evacuate hosts
 *   plan power --topology FILE [--report DIR]                 a day of power savings
 *   plan deploy --topology FILE [--trial HOST,...]            trial network → backbone
 *   plan check --topology FILE [--plan FILE]                  check today's state or a plan
 *   plan apply --topology FILE --plan FILE --hosts FILE       carry a plan out on the hypervisors
 *   plan apply --topology FILE --plan FILE --dry-run          rehearse it in memory
 *
 * Each planning command prints the plan, its cost and its checks (or, with
 * `--json`, one JSON object with at least `status`, `solveSeconds`,
 * `migrations`, and for power `energySavedFraction`); `--out FILE` also
 * saves the JSON for `plan apply`. Exit status: 0 a plan (optimal or
 * feasible); 1 no plan (infeasible), a failed apply, or an invalid input
 * file; 2 a bad command line. Output goes through the program's configured
 * writers, so the commands run in-process under tests.
 *
 * `plan apply` runs one step at a time through a `Migrator`: live, the
 * hypervisors' daemons named by the hosts file (./plan-hosts.ts) through
 * their management API (./live-migrator.ts), with `--power-command CMD`
 * for the power steps of power plans; `--dry-run` uses an in-memory one.
 * Tests may hand in their own as `PlanCommandOptions.migrator`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type Command, CommanderError, Option } from "commander";
import { applyPlan, type Migrator } from "../../migration/planner/apply.ts";
import { checkState } from "../../migration/planner/checker.ts";
import { type DeployPlan, planDeploy } from "../../migration/planner/deploy.ts";
import { loadNetwork } from "../../migration/planner/load.ts";
import {
  type MaintenancePlan,
  planMaintenance,
  type TrafficWindow,
} from "../../migration/planner/maintenance.ts";
import { MemoryMigrator } from "../../migration/planner/memory-migrator.ts";
import type { Network } from "../../migration/planner/network.ts";
import { type PlanBase, PlanRequestError, stepsFromJson } from "../../migration/planner/plan.ts";
import { hourText, type PowerPlan, planPower } from "../../migration/planner/power.ts";
import { writePowerReport } from "../../migration/planner/report.ts";
import { type PlanStep, verifySteps } from "../../migration/planner/verify.ts";
import { ApiClient } from "./client.ts";
import { LiveMigrator } from "./live-migrator.ts";
import { connectOptions, hostsFileProblems, loadHostsFile } from "./plan-hosts.ts";

export interface PlanCommandOptions {
  /** The live migrator for `plan apply` (per topology); without it only --dry-run runs. */
  migrator?: (net: Network) => Migrator | Promise<Migrator>;
}

/** A failure that exits 1 after its message (the plan, if any, is printed already). */
class PlanFailed extends Error {}

type Writer = (text: string) => void;

function writers(cmd: Command): { out: Writer; err: Writer } {
  let root = cmd;
  while (root.parent) root = root.parent;
  const config = root.configureOutput() as { writeOut?: Writer; writeErr?: Writer };
  return {
    out: config.writeOut ?? ((t) => process.stdout.write(t)),
    err: config.writeErr ?? ((t) => process.stderr.write(t)),
  };
}

function usage(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: 2, code: "vroomctl.plan.usage" });
  throw new CommanderError(2, "vroomctl.plan.usage", message);
}

function load(file: string): Network {
  const result = loadNetwork(file);
  if (!result.ok) throw new PlanFailed(`invalid network file:\n  ${result.errors.join("\n  ")}`);
  return result.network;
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function number(
  cmd: Command,
  name: string,
  value: string | undefined,
  check: (x: number) => boolean,
): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === "" || !Number.isFinite(x) || !check(x))
    usage(cmd, `${name}: '${value}' is not valid`);
  return x;
}

function windowOf(
  cmd: Command,
  o: { hour?: string; hours?: string; peak?: boolean },
): TrafficWindow | undefined {
  if (o.peak) {
    if (o.hour !== undefined) usage(cmd, "--peak and --hour exclude each other");
    return { startHour: "peak", hours: 1 };
  }
  const hour = number(cmd, "--hour", o.hour, (x) => x >= 0 && x < 24);
  const hours = number(cmd, "--hours", o.hours, (x) => x > 0 && x <= 24);
  if (hour === undefined)
    return hours === undefined ? undefined : usage(cmd, "--hours needs --hour");
  return { startHour: hour, hours: hours ?? 2 };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function common(plan: PlanBase): string[] {
  const lines = [
    `${plan.kind} plan for ${plan.network}: ${plan.status.toUpperCase()}${plan.gap !== null && plan.status !== "infeasible" ? ` (gap ${pct(plan.gap)})` : ""}, planned in ${plan.solveSeconds.toFixed(3)} s`,
    `traffic level: ${pct(plan.trafficScale)} of the peak`,
  ];
  return lines;
}

function stepLines(plan: PlanBase): string[] {
  if (plan.steps.length === 0) return ["no migration"];
  return plan.steps.map((s) => {
    const tag =
      s.slot !== undefined
        ? `[slot ${s.slot}] `
        : s.stage !== undefined
          ? `[stage ${s.stage}] `
          : "";
    if (s.kind === "migrate")
      return `  ${String(s.step).padStart(3)}. ${tag}migrate ${s.router}: ${s.from} (${s.fromPop}) → ${s.to} (${s.toPop})${s.staging ? " [park]" : ""}`;
    return `  ${String(s.step).padStart(3)}. ${tag}${s.kind === "power-on" ? "power on" : "power off"} ${s.host}`;
  });
}

function checkLines(plan: PlanBase): string[] {
  const c = plan.checks;
  const lines = [
    `checks: ${c.passed ? "passed" : "FAILED"} (${c.statesChecked} states checked independently; highest link utilisation ${pct(c.maxLinkUtilisation)}, highest host CPU ${pct(c.maxHostUtilisation)})`,
    ...c.failures.map((f) => `  ${f}`),
  ];
  if (plan.notes.length > 0) lines.push("notes:", ...plan.notes.map((n) => `  ${n}`));
  if (plan.explanation.length > 0)
    lines.push("why there is no plan:", ...plan.explanation.map((n) => `  ${n}`));
  return lines;
}

export function renderMaintenance(plan: MaintenancePlan): string {
  const w =
    plan.window.startHour === "peak"
      ? "the peak hour"
      : `${hourText(plan.window.startHour)} for ${plan.window.hours} h`;
  return [
    ...common(plan),
    `evacuate: ${plan.evacuated.join(", ")}; window: ${w}`,
    `cost: ${plan.cost.migrations} migration(s)${plan.cost.stagingMigrations ? ` + ${plan.cost.stagingMigrations} park(s)` : ""}, ${plan.cost.addedLatencyMs >= 0 ? "+" : ""}${plan.cost.addedLatencyMs.toFixed(3)} ms summed over virtual links; ${plan.holdsAtPeak ? "the new placement also holds at the peak" : "the new placement does not hold at the peak: move back after the window"}`,
    ...stepLines(plan),
    ...checkLines(plan),
  ].join("\n");
}

export function renderPower(plan: PowerPlan): string {
  const kwh = (wh: number) => `${(wh / 1000).toFixed(2)} kWh`;
  const lines = [
    ...common(plan),
    `model: ${plan.mode}; migration budget ${plan.migrationBudget} per slot`,
    `energy: ${kwh(plan.energyWh)} against ${kwh(plan.baselineWh)} with every host powered: ${pct(plan.energySavedFraction)} saved (lower bound ${kwh(plan.energyBoundWh)})`,
    "slot  start  traffic  hosts  power W  baseline W  migrations",
    ...plan.slots.map(
      (s) =>
        `${String(s.slot).padStart(4)}  ${hourText(s.startHour)}  ${s.peakScale.toFixed(2).padStart(7)}  ${String(s.hostsOn).padStart(5)}  ${s.powerW.toFixed(0).padStart(7)}  ${s.baselineW.toFixed(0).padStart(10)}  ${String(s.migrations + s.stagingMigrations).padStart(10)}`,
    ),
    ...checkLines(plan),
  ];
  return lines.join("\n");
}

export function renderDeploy(plan: DeployPlan): string {
  return [
    ...common(plan),
    `trial hosts: ${plan.trialHosts.join(", ")}`,
    ...plan.stages.map(
      (s) =>
        `stage ${s.stage} (${s.routers.join(", ")}): ${s.status}, ${s.migrations.length} migration(s)`,
    ),
    `cost: ${plan.cost.migrations} migration(s) (${plan.cost.backboneMigrations} of backbone routers)${plan.cost.stagingMigrations ? ` + ${plan.cost.stagingMigrations} park(s)` : ""}, ${plan.cost.addedLatencyMs.toFixed(3)} ms added over today, summed over virtual links`,
    ...stepLines(plan),
    ...checkLines(plan),
  ].join("\n");
}

function emit(
  cmd: Command,
  plan: PlanBase,
  json: boolean,
  out: string | undefined,
  text: () => string,
): void {
  const { out: write } = writers(cmd);
  if (out !== undefined) {
    try {
      writeFileSync(out, `${JSON.stringify(plan, null, 2)}\n`);
    } catch (e) {
      throw new PlanFailed(`cannot write ${out}: ${(e as Error).message}`);
    }
  }
  write(json ? `${JSON.stringify(plan, null, 2)}\n` : `${text()}\n`);
  if (plan.status === "infeasible")
    throw new PlanFailed(`no plan: ${plan.explanation[0] ?? "infeasible"}`);
}

function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true;
}

/** Runs an action, turning request errors into usage errors and leaving the rest to the caller. */
function guarded<A extends unknown[]>(fn: (cmd: Command, ...args: A) => Promise<void>) {
  return async (...raw: unknown[]): Promise<void> => {
    const cmd = raw[raw.length - 1] as Command;
    try {
      await fn(cmd, ...(raw.slice(0, -2) as A));
    } catch (e) {
      if (e instanceof PlanRequestError) usage(cmd, e.message);
      throw e;
    }
  };
}

export function registerPlanCommands(program: Command, options: PlanCommandOptions = {}): void {
  const plan = program
    .command("plan")
    .description("plan where virtual routers go: maintenance, power savings, service deployment");
  const topology = () =>
    new Option("-t, --topology <file>", "network file (YAML or JSON)").makeOptionMandatory();
  const solverOptions = (c: Command) =>
    c
      .option("--time-limit <seconds>", "solver time limit")
      .option("--gap <fraction>", "relative MIP gap at which the solver may stop", "0.0001")
      .option("--json", "print the plan as one JSON object")
      .option("--out <file>", "also save the plan as JSON (for plan apply)");

  solverOptions(
    plan
      .command("maintenance")
      .description("evacuate hosts before maintenance: fewest migrations, then least added delay")
      .addOption(topology())
      .requiredOption("-e, --evacuate <hosts>", "hosts to empty, comma-separated")
      .option("--hour <hour>", "start of the maintenance window (default: the quietest two hours)")
      .option("--hours <hours>", "length of the window (default 2)")
      .option("--peak", "plan for the peak traffic instead of a window"),
  ).action(
    guarded(async (cmd) => {
      const o = cmd.opts();
      const net = load(o.topology);
      const evacuate = list(o.evacuate);
      const result = await planMaintenance(net, {
        evacuate,
        window: windowOf(cmd, o),
        timeLimit: number(cmd, "--time-limit", o.timeLimit, (x) => x > 0),
        mipGap: number(cmd, "--gap", o.gap, (x) => x >= 0 && x < 1),
      });
      emit(cmd, result, wantsJson(cmd), o.out, () => renderMaintenance(result));
    }),
  );

  solverOptions(
    plan
      .command("power")
      .description("a day of power savings: hosts to power down and router placements per slot")
      .addOption(topology())
      .option("--slots <n>", "number of slots (default 24)")
      .option("--slot-hours <hours>", "hours per slot (default 1)")
      .option("--start-hour <hour>", "hour the first slot starts (default: the peak hour)")
      .option("--budget <n>", "migrations allowed per slot (default: a fifth of the routers)")
      .addOption(
        new Option("--mode <mode>", "one model for the day, or one per slot")
          .choices(["auto", "joint", "rolling"])
          .default("auto"),
      )
      .option(
        "--lookahead <slots>",
        "rolling mode: slots ahead each placement must hold (default 2)",
      )
      .option("--report <dir>", "write the report (figures as SVG and PNG, JSON, Markdown) here"),
  ).action(
    guarded(async (cmd) => {
      const o = cmd.opts();
      const net = load(o.topology);
      const int = (x: number) => Number.isInteger(x) && x >= 0;
      const result = await planPower(net, {
        slots: number(cmd, "--slots", o.slots, (x) => int(x) && x >= 1),
        slotHours: number(cmd, "--slot-hours", o.slotHours, (x) => x > 0 && x <= 24),
        startHour: number(cmd, "--start-hour", o.startHour, (x) => x >= 0 && x < 24),
        migrationBudget: number(cmd, "--budget", o.budget, int),
        mode: o.mode,
        lookahead: number(cmd, "--lookahead", o.lookahead, int),
        timeLimit: number(cmd, "--time-limit", o.timeLimit, (x) => x > 0),
        mipGap: number(cmd, "--gap", o.gap, (x) => x >= 0 && x < 1),
      });
      if (o.report !== undefined && result.status !== "infeasible") {
        try {
          writePowerReport(result, o.report);
        } catch (e) {
          throw new PlanFailed(`cannot write the report to ${o.report}: ${(e as Error).message}`);
        }
      }
      emit(cmd, result, wantsJson(cmd), o.out, () => renderPower(result));
    }),
  );

  solverOptions(
    plan
      .command("deploy")
      .description("move a service's routers from the trial network onto the backbone, in stages")
      .addOption(topology())
      .option("--trial <hosts>", "trial hosts, comma-separated (default: hosts with role trial)")
      .option("--stage-size <n>", "routers per stage (default: a third of them)")
      .option(
        "--stages <list>",
        "explicit stages: routers comma-separated, stages separated by ';'",
      )
      .option("--hour <hour>", "plan for the traffic of this hour (default: the peak)")
      .option("--hours <hours>", "length of that window (default 2)")
      .option("--peak", "plan for the peak traffic (the default)"),
  ).action(
    guarded(async (cmd) => {
      const o = cmd.opts();
      const net = load(o.topology);
      const result = await planDeploy(net, {
        trialHosts: o.trial !== undefined ? list(o.trial) : undefined,
        stageSize: number(cmd, "--stage-size", o.stageSize, (x) => Number.isInteger(x) && x >= 1),
        stages: o.stages !== undefined ? String(o.stages).split(";").map(list) : undefined,
        window: windowOf(cmd, o),
        timeLimit: number(cmd, "--time-limit", o.timeLimit, (x) => x > 0),
        mipGap: number(cmd, "--gap", o.gap, (x) => x >= 0 && x < 1),
      });
      emit(cmd, result, wantsJson(cmd), o.out, () => renderDeploy(result));
    }),
  );

  plan
    .command("check")
    .description("check today's placement (or replay a saved plan) against every constraint")
    .addOption(topology())
    .option("--plan <file>", "a plan saved with --out: replay and check every state")
    .option(
      "--scale <fraction>",
      "traffic level as a fraction of the peak (default: the plan's, or 1)",
    )
    .option("--json", "print the result as JSON")
    .action(
      guarded(async (cmd) => {
        const o = cmd.opts();
        const net = load(o.topology);
        const { out } = writers(cmd);
        let scale = number(cmd, "--scale", o.scale, (x) => x >= 0 && x <= 10);
        const initial = Int32Array.from(net.routers.map((r) => r.host));
        let result: { passed: boolean; statesChecked: number; failures: string[] };
        if (o.plan !== undefined) {
          const saved = readPlan(o.plan);
          const steps = stepsFromJson(net, saved.steps);
          if (!steps.ok) throw new PlanFailed(`invalid plan file:\n  ${steps.errors.join("\n  ")}`);
          scale ??= typeof saved.trafficScale === "number" ? saved.trafficScale : 1;
          const start = placementFrom(net, saved.initialPlacement) ?? initial;
          const v = verifySteps(net, start, steps.steps, { scale });
          result = {
            passed: v.ok,
            statesChecked: v.statesChecked,
            failures: v.failures.map(
              (f) =>
                `${f.step < 0 ? "initial state" : `step ${f.step + 1} ${f.phase}`}: ${f.violation.message}`,
            ),
          };
        } else {
          const c = checkState(net, { placement: initial, scale: scale ?? 1 });
          result = { passed: c.ok, statesChecked: 1, failures: c.violations.map((v) => v.message) };
        }
        if (wantsJson(cmd))
          out(`${JSON.stringify({ network: net.name, scale: scale ?? 1, ...result }, null, 2)}\n`);
        else
          out(
            `${[`${net.name}: ${result.passed ? "all constraints hold" : "constraints broken"} (${result.statesChecked} state(s) checked at ${pct(scale ?? 1)} of the peak)`, ...result.failures.map((f) => `  ${f}`)].join("\n")}\n`,
          );
        if (!result.passed) throw new PlanFailed(`${result.failures.length} violation(s)`);
      }),
    );

  plan
    .command("apply")
    .description(
      "carry a saved plan out on the hypervisors, one migration at a time, stopping at the first failure",
    )
    .addOption(topology())
    .requiredOption("-p, --plan <file>", "a plan saved with --out")
    .option(
      "--hosts <file>",
      "each host's vroomd: hosts: {<host>: {api: <socket or http://host:port>, peer: <its peer name>, tokenFile?}} (YAML or JSON)",
    )
    .option(
      "--power-command <cmd>",
      "runs as 'CMD on|off HOST' for the power steps (exit status 0: done); without it plans that power hosts are refused",
    )
    .option("--slot <n>", "power plans: only the transition into this slot")
    .option(
      "--dry-run",
      "run against an in-memory copy of the placement instead of the hypervisors",
    )
    .option("--json", "print the run's report as JSON")
    .action(
      guarded(async (cmd) => {
        const o = cmd.opts();
        const net = load(o.topology);
        const { out } = writers(cmd);
        const saved = readPlan(o.plan);
        if (saved.network !== undefined && saved.network !== net.name)
          throw new PlanFailed(
            `the plan is for network ${String(saved.network)}, the topology is ${net.name}`,
          );
        if (saved.status === "infeasible")
          throw new PlanFailed("the plan is infeasible: nothing to apply");
        const parsed = stepsFromJson(net, saved.steps);
        if (!parsed.ok) throw new PlanFailed(`invalid plan file:\n  ${parsed.errors.join("\n  ")}`);
        let steps = parsed.steps;
        let initial =
          placementFrom(net, saved.initialPlacement) ??
          Int32Array.from(net.routers.map((r) => r.host));
        let hostsOn: Uint8Array | undefined;
        const slot = number(cmd, "--slot", o.slot, (x) => Number.isInteger(x) && x >= 0);
        if (slot !== undefined) {
          if (saved.kind !== "power") usage(cmd, "--slot is for power plans");
          const placements = saved.placements as Record<string, string>[] | undefined;
          if (slot > 0) {
            const before = placements?.[slot - 1] ? placementFrom(net, placements[slot - 1]) : null;
            if (before === null) throw new PlanFailed(`the plan has no slot ${slot - 1}`);
            initial = before;
            hostsOn = new Uint8Array(net.hosts.length);
            for (const h of before) hostsOn[h] = 1;
          }
          steps = steps.filter((_, i) => parsed.tags[i].slot === slot);
        }
        const scale = typeof saved.trafficScale === "number" ? saved.trafficScale : 1;
        let migrator: Migrator;
        if (o.dryRun && (o.hosts !== undefined || o.powerCommand !== undefined))
          usage(cmd, "--dry-run runs in memory: it takes neither --hosts nor --power-command");
        if (o.dryRun) {
          const placement: Record<string, string> = {};
          net.routers.forEach((r) => {
            placement[r.name] = net.hosts[initial[r.index]].name;
          });
          migrator = new MemoryMigrator(
            placement,
            net.hosts.map((h) => h.name),
          );
        } else if (options.migrator) migrator = await options.migrator(net);
        else if (o.hosts !== undefined)
          migrator = await liveMigrator(cmd, net, o.hosts, o.powerCommand, initial, steps, hostsOn);
        else
          throw new PlanFailed(
            "a live run needs --hosts FILE (each host's vroomd API and peer name); use --dry-run to rehearse the plan",
          );
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once("SIGINT", stop);
        try {
          const report = await applyPlan(net, initial, steps, migrator, {
            scale,
            hostsOn,
            signal: controller.signal,
            onStep: (e) => {
              if (!wantsJson(cmd) && e.phase !== "start")
                out(
                  `step ${e.step}/${e.total}: ${e.description}: ${e.phase === "done" ? "done" : `FAILED: ${e.error}`}\n`,
                );
            },
          });
          if (wantsJson(cmd)) out(`${JSON.stringify(report, null, 2)}\n`);
          else {
            out(`${report.summary}\n`);
            for (const d of report.deviations)
              out(`  ${d.router}: expected on ${d.expected}, found on ${d.actual}\n`);
            for (const v of report.violations) out(`  ${v}\n`);
          }
          if (!report.completed) {
            throw new PlanFailed(
              `apply stopped at step ${report.stoppedAt?.step}: ${report.stoppedAt?.reason}`,
            );
          }
        } finally {
          process.removeListener("SIGINT", stop);
        }
      }),
    );
}

/** The live migrator over the daemons of the hosts file; refuses before anything moves if a host the run needs is missing. */
async function liveMigrator(
  cmd: Command,
  net: Network,
  file: string,
  powerCommand: string | undefined,
  initial: Int32Array,
  steps: readonly PlanStep[],
  hostsOn: Uint8Array | undefined,
): Promise<Migrator> {
  const loaded = loadHostsFile(file);
  if (!loaded.ok) throw new PlanFailed(`invalid hosts file:\n  ${loaded.errors.join("\n  ")}`);
  // Hosts holding routers before the first step (their placement is read) and every host a step names.
  const needed = new Set<string>();
  for (const h of initial) needed.add(net.hosts[h].name);
  for (const s of steps)
    if (s.kind === "migrate") {
      needed.add(net.hosts[s.from].name);
      needed.add(net.hosts[s.to].name);
    } else needed.add(net.hosts[s.host].name);
  const problems = hostsFileProblems(net, loaded.hosts, needed, file);
  if (problems.length > 0)
    throw new PlanFailed(`the hosts file does not fit the plan:\n  ${problems.join("\n  ")}`);
  const g = cmd.optsWithGlobals<{ timeout?: string }>();
  const seconds = g.timeout === undefined ? 30 : Number(g.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0)
    usage(cmd, `--timeout: '${g.timeout}' is not a positive number of seconds`);
  const hosts = [];
  for (const h of loaded.hosts) {
    try {
      const client = await ApiClient.connect(connectOptions(h.api), { timeoutMs: seconds * 1000 });
      hosts.push({ name: h.host, client, peer: h.peer });
    } catch (e) {
      throw new PlanFailed(`${file}: hosts.${h.host}: ${(e as Error).message}`);
    }
  }
  const hostsOff =
    hostsOn === undefined ? [] : net.hosts.filter((h) => !hostsOn[h.index]).map((h) => h.name);
  return new LiveMigrator({ hosts, powerCommand, hostsOff });
}

function readPlan(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new PlanFailed(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new PlanFailed(`${file}: not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new PlanFailed(`${file}: a plan is one JSON object`);
  return value as Record<string, unknown>;
}

function placementFrom(net: Network, record: unknown): Int32Array | null {
  if (typeof record !== "object" || record === null) return null;
  const placement = Int32Array.from(net.routers.map((r) => r.host));
  for (const [router, host] of Object.entries(record as Record<string, unknown>)) {
    const r = net.routerIndex.get(router);
    const h = typeof host === "string" ? net.hostIndex.get(host) : undefined;
    if (r === undefined || h === undefined)
      throw new PlanFailed(
        `the plan places ${router} on ${String(host)}, which the topology does not have`,
      );
    placement[r] = h;
  }
  return placement;
}
